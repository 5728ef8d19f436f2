"""Dedup at scale: ``dedup.near_duplicates`` (MinHash-LSH and multi-index hashing propose the
pairs, the exact measures confirm them) drops exactly what the exact greedy
(``near_duplicates_exact``) drops, on generated texts with near-duplicates planted just over,
just under and exactly at the report's thresholds (0.2 per page, 0.3 per category) and
perceptual hashes planted around ``phash_max_distance``."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from textsynth.curation import dedup, lsh
from textsynth.curation.config import DEFAULTS
from textsynth.curation.job import cross_dedup
from textsynth.shards import filesystem

HAN = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]        # random text
RESERVED_HAN = [chr(c) for c in range(0x7000, 0x9000)]     # exact-threshold pairs only


class Texts:
    """Random en / zh crop texts with Zipf-like word and character use (so unrelated texts
    share common n-grams, as real ones do)."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
        self.vocab = np.array(["".join(self.rng.choice(letters, self.rng.integers(2, 10))) for _ in range(4000)])
        w = 1 / np.arange(1, 4001)
        self.p_word = w / w.sum()
        h = 1 / np.arange(1, len(HAN) + 1) ** 0.8
        self.p_han = h / h.sum()

    def tokens(self) -> tuple[list[str], str]:
        """A crop's tokens and the separator: words (en) or characters with a few words (zh)."""
        if self.rng.random() < 0.6:
            n = int(self.rng.integers(30, 160))
            return list(self.rng.choice(self.vocab, n, p=self.p_word)), " "
        n = int(self.rng.integers(60, 400))
        toks = list(self.rng.choice(HAN, n, p=self.p_han))
        for i in self.rng.integers(0, n, n // 40):  # Latin words inside Chinese text
            toks[i] = f" {self.rng.choice(self.vocab, p=self.p_word)} "
        return toks, ""

    def near(self, toks: list[str], sep: str, t: float) -> tuple[str, str]:
        """Copies of the text whose n-gram overlap with it is just over and just under ``t``:
        tokens replaced one by one in random order, the crossing found by bisection."""
        src = dedup.ngrams(sep.join(toks))
        order = self.rng.permutation(len(toks))
        fresh = self.rng.choice(self.vocab if sep else HAN, len(toks))

        def edited(k: int) -> str:
            out = list(toks)
            for i in order[:k]:
                out[i] = fresh[i]
            return sep.join(out)

        lo, hi = 0, len(toks)  # overlap(lo) > t >= overlap(hi)
        if dedup.overlap(src, dedup.ngrams(edited(hi))) > t:
            return edited(hi), edited(hi)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if dedup.overlap(src, dedup.ngrams(edited(mid))) > t:
                lo = mid
            else:
                hi = mid
        return edited(lo), edited(hi)


def exactly_at(t: float, k: int) -> tuple[str, str]:
    """Two Han texts whose 3-gram overlap is exactly ``t`` (0.2 or 0.3): a shared run of p
    distinct characters, then x others each; J = (p - 2) / (p + 2x - 2)."""
    p, x = {0.3: (8, 7), 0.2: (52, 100)}[t]
    chars = RESERVED_HAN[k * (p + 2 * x):(k + 1) * (p + 2 * x)]
    shared = "".join(chars[:p])
    return shared + "".join(chars[p:p + x]), shared + "".join(chars[p + x:])


def flip(h: int, bits: int, rng) -> int:
    for b in rng.choice(64, bits, replace=False):
        h ^= 1 << int(b)
    return h


def corpus(seed: int, n: int, t: float, groups: int, with_phash: bool):
    """(candidates, planted, texts) with ~n crops in ``groups`` groups; planted[kind] lists
    (copy key, source key) pairs, kind one of over / under / at / phash<k>."""
    gen = Texts(seed)
    rng = gen.rng
    cands, planted, texts = [], {"over": [], "under": [], "at": []}, {}
    ngram = DEFAULTS["dedup"]["ngram"]

    def add(text: str, group: str, phash=None) -> dedup.Candidate:
        key = f"{len(cands):05d}-{rng.integers(1 << 30):08x}"
        texts[key] = text
        c = dedup.Candidate(key, group, len("".join(text.split())), dedup.ngrams(text, ngram["zh"], ngram["en"]),
                            phash if with_phash else None)
        cands.append(c)
        return c

    def random_hash():
        return None if rng.random() < 0.1 else int(rng.integers(0, 1 << 63)) * 2 + int(rng.integers(2))

    while len(cands) < n:
        group = f"g{rng.integers(groups)}"
        toks, sep = gen.tokens()
        src = add(sep.join(toks), group, random_hash())
        roll = rng.random()
        if roll < 0.35:  # a copy just over or just under the threshold, in the same group
            over, under = gen.near(toks, sep, t)
            kind = "over" if rng.random() < 0.5 else "under"
            copy = add(over if kind == "over" else under, group, random_hash())
            planted[kind].append((copy.key, src.key))
        elif roll < 0.45 and with_phash and src.phash is not None:  # a look-alike picture
            bits = int(rng.choice([3, 4, 5, 6]))
            toks, sep = gen.tokens()
            copy = add(sep.join(toks), group, flip(src.phash, bits, rng))
            planted.setdefault(f"phash{bits}", []).append((copy.key, src.key))
    for k in range(20):
        a, b = exactly_at(t, k)
        ca, cb = add(a, "g0", random_hash()), add(b, "g0", random_hash())
        planted["at"].append((cb.key, ca.key))
    return cands, planted, texts


def check_same(cands, t: float, d: int, planted: dict) -> dict:
    exact = dedup.near_duplicates_exact(cands, t, d)
    new = dedup.near_duplicates(cands, t, d)
    assert new.keys() == exact.keys()
    assert {k: r for k, (r, _) in new.items()} == {k: r for k, (r, _) in exact.items()}
    by_key = {c.key: c for c in cands}
    for k, (reason, other) in new.items():  # each names a kept crop it truly duplicates
        a, b = by_key[k], by_key[other]
        assert other not in new and a.group == b.group
        if reason == "dup_ngram":
            assert dedup.overlap(a.grams, b.grams) > t
        else:
            assert other == exact[k][1] and dedup.hamming(a.phash, b.phash) <= d
    # Not vacuous: plenty of pairs on both sides of the threshold, exactly-at pairs kept.
    for kind, pairs in planted.items():
        js = [dedup.overlap(by_key[a].grams, by_key[b].grams) for a, b in pairs]
        if kind == "over":
            assert len(pairs) >= 100 and all(j > t for j in js) and np.median(js) < t + 0.01
            assert all(a in new or b in new for a, b in pairs)
        elif kind == "under":
            assert len(pairs) >= 100 and all(j <= t for j in js) and np.median(js) > t - 0.01
        elif kind == "at":
            assert all(j == t for j in js) and not any(a in new or b in new for a, b in pairs)
    # Arrival order does not matter.
    shuffled = [cands[i] for i in np.random.default_rng(1).permutation(len(cands))]
    assert dedup.near_duplicates(shuffled, t, d) == new
    return new


def lsh_recall(cands, t: float, pairs: list[tuple[str, str]]) -> None:
    """Every planted pair over the threshold is proposed by the index (when both are kept)."""
    for members in dedup._groups(cands):
        rank = {c.key: i for i, c in enumerate(members)}
        want = {}
        for a, b in pairs:
            if a in rank and b in rank:
                i, j = sorted((rank[a], rank[b]))
                want.setdefault(j, set()).add(i)
        index = lsh.text_buckets([c.grams for c in members], t)
        for j in range(len(members)):
            assert want.get(j, set()) <= set(index.candidates(j))
            index.add(j)


def test_lsh_dedup_equals_exact_per_category():
    t, d = DEFAULTS["dedup"]["category_threshold"], DEFAULTS["dedup"]["phash_max_distance"]
    cands, planted, _ = corpus(0, 2400, t, groups=2, with_phash=True)
    new = check_same(cands, t, d, planted)
    assert all(a in new or b in new for kind in ("phash3", "phash4") for a, b in planted[kind])
    assert sum(r == "dup_phash" for r, _ in new.values()) >= 50
    lsh_recall(cands, t, planted["over"])


def test_lsh_dedup_equals_exact_per_page():
    t = DEFAULTS["dedup"]["page_threshold"]
    cands, planted, _ = corpus(1, 2400, t, groups=150, with_phash=False)  # ~16 crops per page
    check_same(cands, t, -1, planted)
    lsh_recall(cands, t, planted["over"])


def test_band_params_meet_the_miss_target():
    for t in (0.2, 0.3):
        b, r, m = lsh.band_params(t)
        assert lsh.miss_probability(t, b, r, m) <= lsh.MISS and b * r <= lsh.MAX_PERM
    assert lsh.band_params(0.0) is None  # any shared n-gram: the exact n-gram index
    cands, _, _ = corpus(2, 300, 0.2, groups=3, with_phash=True)
    for t in (0.0, 0.1, 0.9, 1.0):
        assert dedup.near_duplicates(cands, t, 64).keys() == dedup.near_duplicates_exact(cands, t, 64).keys()


def test_cross_dedup_across_partitions(tmp_path):
    """Phase 2 over two partitions' dedup keys: exact copies anywhere, near-duplicates within
    a category, across the partitions; as the exact method decides."""
    cfg = DEFAULTS
    cands, _, texts = corpus(3, 800, cfg["dedup"]["category_threshold"], groups=2, with_phash=True)
    rows = [{"key": c.key, "category": c.group, "chars": c.chars, "lang": "en", "text": texts[c.key],
             "phash": f"{c.phash or 0:016x}", "chash": c.key} for c in cands]
    rows[-1]["chash"] = rows[0]["chash"]  # the same pixels in the other partition
    fs, root = filesystem(str(tmp_path))
    fs.create_dir(f"{root}/_work")
    for p in (0, 1):
        pq.write_table(pa.Table.from_pylist(rows[p::2]), f"{tmp_path}/_work/part-{p:06d}.dedup.parquet")
    dropped = cross_dedup(fs, root, [0, 1], cfg)
    assert dropped[rows[-1]["key"]] == ("dup_exact", rows[0]["key"])
    cands = [dedup.Candidate(c.key, c.group, c.chars, c.grams, c.phash or 0) for c in cands[:-1]]
    exact = dedup.near_duplicates_exact(cands, cfg["dedup"]["category_threshold"], cfg["dedup"]["phash_max_distance"])
    assert {k: r for k, (r, _) in dropped.items() if r != "dup_exact"} == \
        {k: f"{r}_category" for k, (r, _) in exact.items()}
    assert len(exact) > 50
