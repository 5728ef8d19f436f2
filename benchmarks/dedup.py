"""Dedup at scale: category-level near-duplicate removal of 10^5 crops on one core.

    python benchmarks/dedup.py [--crops 100000] [--subsets 2000,4000,8000] [--seed 0]

Workload (built here, not timed): crop texts of 150-1000 (en) / 100-800 (zh) non-space
characters, each made of runs of random lines of the asset corpora (``paths.corpora_dir()``)
cut to length, so unrelated crops share lines like real boilerplate does; 15% are edited
copies of an earlier crop (OCR-like character edits at 1-30%, an overlapping tile that
drops the start and continues with other lines, or the identical text). Perceptual hashes
are ``dedup.phash`` of a 64x64 word-bar thumbnail of each crop's wrapped text (a copy keeps
its source's layout), so similar text looks similar; the real PDF tiles of the ci assets
have 3e-5 of their pairs within 4 bits, the workload prints its own rate.

All crops form one category (the dedup job's worst case) at the default config's
``category_threshold`` and ``phash_max_distance``. Timed on one core (sched_setaffinity):
(a) the exact method, ``dedup.near_duplicates_exact``, on growing subsets, extrapolated to
the full size from the largest, as c * n^2 and as the power of n fitted to the last two; (b) ``dedup.near_duplicates`` (MinHash-LSH and
multi-index hashing) on each subset, checking that it drops exactly the same crops, and on
all crops. Times include the n-grams of the texts, as in ``job.cross_dedup``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from textsynth import paths  # noqa: E402
from textsynth.curation import dedup, lsh  # noqa: E402
from textsynth.curation.config import DEFAULTS  # noqa: E402

LANGS = {"en": (0.65, (150, 1000), (30, 60)), "zh": (0.35, (100, 800), (14, 28))}  # share, chars, per line
DUP_SHARE = 0.15


def corpus_lines() -> dict[str, list[str]]:
    out = {}
    for lang in LANGS:
        lines = []
        for f in sorted(paths.corpora_dir().glob(f"{lang}-*.txt")):
            lines += [ln.strip() for ln in f.read_text(encoding="utf-8").splitlines() if ln.strip()]
        out[lang] = lines
    return out


def nonspace(text: str) -> int:
    return len("".join(text.split()))


def fill(lines: list[str], rng, target: int, text: str = "") -> str:
    """Append runs of 1-4 consecutive random corpus lines until ``target`` non-space chars."""
    have = nonspace(text)
    while have < target:
        i = int(rng.integers(len(lines)))
        more = "\n".join(lines[i:i + int(rng.integers(1, 5))])
        text, have = text + "\n" + more, have + nonspace(more)
    ink = np.cumsum([not ch.isspace() for ch in text])
    return text[:int(np.searchsorted(ink, target)) + 1].strip()  # a crop cuts its text anywhere


def edit(text: str, lines: list[str], rng) -> str:
    """A near-duplicate of ``text``: OCR-like edits, an overlapping tile, or the same text."""
    kind = rng.choice(["ocr", "shift", "same"], p=[0.6, 0.35, 0.05])
    if kind == "same":
        return text
    if kind == "shift":
        start = int(len(text) * rng.uniform(0.05, 0.8))
        return fill(lines, rng, nonspace(text), text[start:])
    rate = rng.uniform(0.01, 0.3)
    chars = list(text)
    for i in np.flatnonzero(rng.random(len(chars)) < rate):
        op = rng.integers(3)
        alphabet = text[int(rng.integers(len(text)))]  # a plausible misread: another char of it
        chars[i] = "" if op == 0 else alphabet if op == 1 else chars[i] + alphabet
    return "".join(chars)


def layout(rng) -> dict:
    return {"px": rng.uniform(1.5, 4.5), "pitch": rng.uniform(1.3, 2.0), "x0": rng.integers(0, 8),
            "y0": rng.integers(0, 8), "ink": rng.uniform(0.35, 0.75)}


def thumbnail_hash(text: str, lang: str, lay: dict) -> int:
    """phash of the crop as word bars: what a text crop is at 1/4 scale."""
    img = np.ones((64, 64), np.float32)
    px, cw = lay["px"], lay["px"] * (0.55 if lang == "en" else 1.0)
    y = float(lay["y0"])
    for line in text.split("\n"):
        x = float(lay["x0"])
        words = line.split(" ") if lang == "en" else line.replace("，", "， ").split(" ")  # zh: gaps at commas
        for w in words:
            if x > 64:
                break
            x1 = x + len(w) * cw
            img[int(y):int(y + px), int(x):int(x1)] = 1 - lay["ink"]
            x = x1 + cw
        y += px * lay["pitch"]
        if y >= 64:
            break
    return dedup.phash((img * 255).astype(np.uint8))


def wrap(text: str, per_line: int) -> str:
    flat = " ".join(text.split("\n"))
    return "\n".join(flat[i:i + per_line] for i in range(0, len(flat), per_line))


def workload(n: int, seed: int) -> tuple[list[tuple[str, str, int, int]], list[tuple[int, int]]]:
    """[(key, text, chars, phash)] in arrival order (keys are random: they break ties), and
    the planted (copy, source) index pairs."""
    rng = np.random.default_rng(seed)
    lines = corpus_lines()
    langs = list(LANGS)
    crops, meta, planted = [], [], []
    keys = [f"{k:08x}" for k in rng.permutation(16 * n)[:n]]
    for i in range(n):
        if i > 10 and rng.random() < DUP_SHARE:
            src = int(rng.integers(i))
            planted.append((i, src))
            lang, lay, per_line = meta[src]
            text = edit(crops[src][1], lines[lang], rng)
        else:
            lang = str(rng.choice(langs, p=[LANGS[x][0] for x in langs]))
            lo, hi = LANGS[lang][1]
            text = fill(lines[lang], rng, int(rng.integers(lo, hi + 1)))
            lay, per_line = layout(rng), int(rng.integers(*LANGS[lang][2]))
        meta.append((lang, lay, per_line))
        text = text or "."
        crops.append((keys[i], text, nonspace(text), thumbnail_hash(wrap(text, per_line), lang, lay)))
    return crops, planted


def candidates(crops, cfg) -> list[dedup.Candidate]:
    n = cfg["dedup"]["ngram"]
    return [dedup.Candidate(k, "category", chars, dedup.ngrams(text, n["zh"], n["en"]), ph)
            for k, text, chars, ph in crops]


def timed(fn, crops, cfg):
    t0 = time.perf_counter()
    cands = candidates(crops, cfg)
    t1 = time.perf_counter()
    dropped = fn(cands, cfg["dedup"]["category_threshold"], cfg["dedup"]["phash_max_distance"])
    return dropped, t1 - t0, time.perf_counter() - t1


def close_pairs(crops, sample: int, rng) -> float:
    """Share of random crop pairs whose hashes are within 4 bits."""
    h = np.array([c[3] for c in crops], dtype=np.uint64)[rng.permutation(len(crops))[:sample]]
    x = h[:, None] ^ h[None, :]
    bits = np.unpackbits(x.view(np.uint8), axis=-1).reshape(len(h), len(h), 64).sum(-1)
    iu = np.triu_indices(len(h), 1)
    return float((bits[iu] <= 4).mean())


def band_recall(crops, planted, cfg) -> str:
    """Planted pairs near the threshold: how often a band agrees (theory: J^r) and how many
    pairs share fewer than the required bands (LSH misses; theory ~MISS each)."""
    n = cfg["dedup"]["ngram"]
    t = cfg["dedup"]["category_threshold"]
    b, r, m = lsh.band_params(t)
    pairs = []
    for i, src in planted:
        a, c = (dedup.ngrams(crops[x][1], n["zh"], n["en"]) for x in (i, src))
        if t - 0.05 < (jac := dedup.overlap(a, c)) <= t + 0.05:
            pairs.append((jac, a, c))
    sig = lsh.signatures([g for _, a, c in pairs for g in (a, c)], b * r).reshape(len(pairs), 2, b, r)
    agree = (sig[:, 0] == sig[:, 1]).all(-1).sum(-1)  # bands agreeing, per pair
    above = np.array([jac > t for jac, _, _ in pairs])
    return (f"{len(pairs)} planted pairs with J in ({t - 0.05:.2f}, {t + 0.05:.2f}]: bands agree "
            f"{agree.mean() / b:.4f} of the time (mean J^{r} = {np.mean([j ** r for j, _, _ in pairs]):.4f}); "
            f"of the {above.sum()} above {t}, {(agree[above] < m).sum()} share fewer than {m} bands "
            f"(the fewest: {agree[above].min() if above.any() else '-'})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--crops", type=int, default=100_000)
    ap.add_argument("--subsets", default="2000,4000,8000")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cfg = DEFAULTS
    t0 = time.perf_counter()
    crops, planted = workload(args.crops, args.seed)
    t, d = cfg["dedup"]["category_threshold"], cfg["dedup"]["phash_max_distance"]
    b, r, m = lsh.band_params(t)
    print(f"workload: {len(crops):,} crops ({len(planted):,} planted copies) in "
          f"{time.perf_counter() - t0:.0f} s; {np.mean([c[2] for c in crops]):.0f} chars on average; "
          f"random pairs within {d} bits: {close_pairs(crops, 3000, np.random.default_rng(1)):.1e}")
    print(f"category threshold {t}, phash distance {d}; LSH {b} bands x {r} rows, >= {m} shared "
          f"({b * r} permutations), miss probability at J = {t}: {lsh.miss_probability(t, b, r, m):.1e}")
    print(band_recall(crops, planted, cfg) + "\n")
    print("| crops | exact: n-grams + dedup (s) | LSH: n-grams + dedup (s) | dropped (ngram / phash) | same drops |")
    print("|---|---|---|---|---|")
    sizes, secs = [], []
    for n in [int(x) for x in args.subsets.split(",")]:
        sub = crops[:n]
        old, og, od = timed(dedup.near_duplicates_exact, sub, cfg)
        new, ng, nd = timed(dedup.near_duplicates, sub, cfg)
        same = old.keys() == new.keys() and all(old[k][0] == new[k][0] for k in old)
        kinds = [sum(r == kind for r, _ in new.values()) for kind in ("dup_ngram", "dup_phash")]
        print(f"| {n:,} | {og:.1f} + {od:.1f} | {ng:.1f} + {nd:.1f} | {kinds[0]} / {kinds[1]} | "
              f"{'yes' if same else 'NO'} |", flush=True)
        sizes.append(n)
        secs.append(og + od)
    new, ng, nd = timed(dedup.near_duplicates, crops, cfg)
    kinds = [sum(r == kind for r, _ in new.values()) for kind in ("dup_ngram", "dup_phash")]
    scale = len(crops) / sizes[-1]
    k = np.log(secs[-1] / secs[-2]) / np.log(sizes[-1] / sizes[-2]) if len(sizes) > 1 else 2.0
    print(f"| {len(crops):,} | ~{secs[-1] * scale ** 2 / 3600:.1f} h as n^2 (~{secs[-1] * scale ** k / 3600:.1f} h "
          f"as the fitted n^{k:.2f}) | {ng:.1f} + {nd:.1f} | {kinds[0]} / {kinds[1]} | (exact not run) |")
    print(f"\npeak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.1f} GB")


if __name__ == "__main__":
    main()
