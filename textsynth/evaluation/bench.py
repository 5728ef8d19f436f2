"""`textsynth bench build`: an OmniDoc-TokenBench-style text-fidelity benchmark (report §5.2).

1. Text blocks, from any mix of inputs (textsynth/evaluation/sources/): OmniDocBench page
   images with their layout annotations; bare page images (PP-OCRv5 lines grouped into
   blocks); PDFs (the text layer); curated doc shards (their OCR lines).
2. Font normalisation: a 256x256 crop from the top-left corner of each block, scaled so one
   character (a line height) is about f_ref px: 16 for Chinese, 10 for English.
3. Content filter: PP-OCRv5 must find 200-600 (Chinese) or 300-600 (English) characters.
4. Dedup: character n-gram overlap (n = 3 Han / 5 other) above 0.2 within a page or 0.3
   within a category (OmniDocBench's data_source, else the --input argument), keeping the
   sample with the most characters.
5. Balance: as many Chinese as English samples (a seeded choice among the survivors).
6. Human inspection: review the bench in the gallery, then `textsynth bench prune`.

Every skip is counted with its reason (stats.json ``filtered``, ``pages``, ``skips``); a
build fails only when no sample at all qualifies, and then says why, page by page.
Output: shards in the sample contract (``source: doc``), ``stats.json`` and a dataset card.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import numpy as np

from textsynth.curation import dedup, ingest
from textsynth.shardio import is_uri
from textsynth.curation.cascade import count_chars, lang_of, size_bucket
from textsynth.evaluation.sources import curated, omnidocbench, page_images, pdf
from textsynth.evaluation.sources.common import F_REF, SIDE, Candidate, Skips, read_page
from textsynth.ocr import LazyOCR

CHAR_RANGE = {"zh": (200, 600), "en": (300, 600)}
# A PDF crop whose text layer holds fewer than half the range's minimum is skipped before OCR:
# OCR reads ~0.96 of the layer's characters (median), and no crop that passed the OCR filter
# had fewer than 189 (zh) / 206 (en) in the layer (BENCHMARKS.md "The sharper yardstick"), so
# this only saves OCR.
WINDOW_CHARS = {lang: lo // 2 for lang, (lo, _) in CHAR_RANGE.items()}

# Why a page gave no sample, in words; the fates of its candidates in pipeline order, so a
# page is explained by the furthest stage any of its blocks reached.
REASONS = {
    "no_text_detected": "no text detected",
    "no_text_layer": "no text layer",
    "no_usable_text_block": "no usable text block",
    "image_missing": "image missing",
    "unreadable_image": "unreadable image",
    "unreadable_pdf": "unreadable PDF",
    "malformed_page": "malformed annotation",
    "short_block": "blocks shorter than --min-block-chars",
    "sparse_crop": "crops whose text layer holds under half the character range",
    "implausible_char_size": "character size implausible",
    "page_smaller_than_crop": "page smaller than a 256 px crop at f_ref scale",
    "no_ocr_lines": "no OCR lines",
    "blank": "blocks blank",
    "not_sampled": "not sampled (--max-candidates per language)",
    "too_few_chars": "blocks below 200 (zh) / 300 (en) OCR characters",
    "too_many_chars": "blocks above 600 OCR characters",
    "dup_page": "near-duplicates within the page",
    "dup_category": "near-duplicates within the category",
    "balance_dropped": "dropped to balance zh/en",
}
FATES = ["blank", "not_sampled", "too_few_chars", "too_many_chars", "dup_page", "dup_category", "balance_dropped"]


def char_range_failure(chars: int, lang: str) -> str | None:
    lo, hi = CHAR_RANGE["zh" if lang in ("zh", "mixed") else "en"]
    return "too_few_chars" if chars < lo else "too_many_chars" if chars > hi else None


def char_range_ok(chars: int, lang: str) -> bool:
    return char_range_failure(chars, lang) is None


def sample_per_language(live: list[int], langs: list[str], limit: int, seed: int) -> list[int]:
    """A seeded choice of at most ``limit`` candidates of each language (``langs[i]`` of
    candidate ``i``), sorted. Per language because the zh/en balance keeps as many of one as
    of the other: OCR spent on a surplus of one language would be wasted."""
    pick: list[int] = []
    for k, lang in enumerate(sorted({langs[i] for i in live})):
        idx = [i for i in live if langs[i] == lang]
        pick += np.random.default_rng([seed, k]).permutation(idx)[:limit].tolist()
    return sorted(pick)


def collect(inputs: list[str], annotations: str | None, images: str | None, skips: Skips, ocr,
            max_pages: int = 0, min_block_chars: int = 0, progress: bool = True) -> list[Candidate]:
    """Candidates from every input, in a stable order."""
    from tqdm import tqdm

    cands: list[Candidate] = []
    if annotations:
        pages = omnidocbench.load(annotations)
        root = Path(images) if images else Path(annotations).parent
        if not root.is_dir():
            raise FileNotFoundError(f"--images {root}: not a directory of page images")
        for i, page in enumerate(tqdm(pages, desc="annotated pages", unit="page", disable=not progress)):
            cands += omnidocbench.candidates(page, i, root, skips)
    page_files: list[tuple[Path, str]] = []
    for arg in inputs:
        cat, p = ingest.category_name(arg), Path(arg)
        if is_uri(arg):   # on an object store: a curate (or synth) output
            cands += curated.candidates(arg, cat, skips)
        elif (p / "shards").is_dir():
            cands += curated.candidates(p, cat, skips)
        elif p.is_dir() or p.is_file():
            files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
            for f in files:
                kind = ingest.kind_of(str(f))
                if kind == "pdf":
                    cands += pdf.candidates(str(f), cat, max_pages, skips, min_block_chars, WINDOW_CHARS)
                elif kind == "image":
                    page_files.append((f, cat))
                elif p.is_file():
                    raise ValueError(f"bench input {f}: not a PDF or an image")
        else:
            raise FileNotFoundError(f"bench input not found: {arg}")
    for f, cat in tqdm(page_files, desc="page OCR", unit="page", disable=not progress or not page_files):
        img = read_page(f, str(f), skips)
        if img is not None:
            cands += page_images.candidates(f, img, cat, ocr, skips)
    return cands


def build(inputs: list[str] | None, out: str, max_pages: int = 0, max_candidates: int = 0, seed: int = 0,
          ocr=None, log=print, progress: bool = True, min_block_chars: int = 0,
          omnidocbench_json: str | None = None, images: str | None = None) -> dict:
    """Build a bench into ``out`` from ``inputs`` (PDFs, page images, folders of them, curate
    output dirs; each argument is a category) and/or OmniDocBench annotations + page images."""
    from tqdm import tqdm

    from textsynth.card import write_manifest
    from textsynth.shards import atomic_write, claim_rewrite, filesystem, pack, publish
    from textsynth.synthesis.render import encode

    inputs = list(inputs or [])
    if not inputs and not omnidocbench_json:
        raise ValueError("nothing to build from: give --input and/or --omnidocbench")
    claim_rewrite(out, "bench", [*inputs, *(p for p in (omnidocbench_json, images) if p)])
    t0 = time.perf_counter()
    skips, ocr = Skips(), LazyOCR(ocr)   # PDF-only builds load the OCR only after collecting
    cands = collect(inputs, omnidocbench_json, images, skips, ocr, max_pages, min_block_chars, progress)
    counts = Counter(candidates=len(cands))
    fate: dict[int, str] = {}      # candidate index -> the stage that dropped it

    live = [i for i, c in enumerate(cands) if ingest.ink_fraction(c.image) >= 0.01]
    fate.update({i: "blank" for i in set(range(len(cands))) - set(live)})
    if max_candidates:
        pick = sample_per_language(live, [c.lang for c in cands], max_candidates, seed)
        fate.update({i: "not_sampled" for i in live if i not in pick})
        live = pick
    ocr_per_lang = Counter(cands[i].lang for i in live)

    read = {}
    for i in tqdm(live, desc="bench OCR", unit="crop", disable=not progress or not live):
        lines = ocr.read(cands[i].image)
        text = "\n".join(ln.text for ln in lines)
        chars, lang = count_chars(text), lang_of(text)
        failure = char_range_failure(chars, lang)
        if failure:
            fate[i] = failure
            continue
        read[i] = (lines, text, chars, "zh" if lang in ("zh", "mixed") else "en")

    for level, threshold, group in (("page", 0.2, lambda c: c.page_id), ("category", 0.3, lambda c: c.category)):
        dropped = dedup.near_duplicates(
            [dedup.Candidate(str(i), group(cands[i]), v[2], dedup.ngrams(v[1])) for i, v in read.items()], threshold)
        fate.update({int(k): f"dup_{level}" for k in dropped})
        read = {i: v for i, v in read.items() if str(i) not in dropped}

    per_lang = {lang: sorted(i for i, v in read.items() if v[3] == lang) for lang in ("zh", "en")}
    if per_lang["zh"] and per_lang["en"]:
        n = min(len(per_lang["zh"]), len(per_lang["en"]))
        rng = np.random.default_rng(seed)
        for lang, idx in per_lang.items():
            chosen = set(rng.permutation(idx)[:n].tolist())
            fate.update({i: "balance_dropped" for i in idx if i not in chosen})
            per_lang[lang] = [i for i in idx if i in chosen]
    elif read:
        log("warning: the bench has only " + ("Chinese" if per_lang["zh"] else "English")
            + " samples; balance between languages is impossible with these inputs")
    counts.update(fate.values())
    counts.update(skips.counts)

    kept = sorted(per_lang["zh"] + per_lang["en"])
    pages = _page_outcomes(cands, kept, fate, skips)
    if not kept:
        raise ValueError("no bench sample qualifies: " + explain(Counter(r for r in pages.values() if r)))

    samples = []
    for n, i in enumerate(kept):
        c, (lines, text, chars, lang) = cands[i], read[i]
        key = f"bench-000000-{n:06d}"
        meta = {"source": "doc", "lang": lang_of(text), "width": SIDE, "height": SIDE, "text": text,
                "lines": [{"text": ln.text, "bbox": list(ln.bbox), "font": None, "px": F_REF[lang]} for ln in lines],
                "char_px": float(F_REF[lang]), "size_bucket": size_bucket(F_REF[lang]), "recipe": None,
                "origin": {**c.origin, "category": c.category}, "scores": {"ocr_chars": chars}}
        samples.append((key, f"{key}.png", encode(c.image, "png"), meta))
    fs, root = filesystem(out)
    tar_bytes, pq_bytes = pack(samples)
    publish(fs, root, "bench-000000", tar_bytes, pq_bytes, len(samples),
            inputs=inputs + ([omnidocbench_json] if omnidocbench_json else []))
    langs = Counter(m["lang"] for *_, m in samples)
    stats = {"samples": len(samples), "by_lang": dict(langs),
             "by_data_source": dict(Counter(m["origin"].get("data_source", "unknown") for *_, m in samples)),
             "filtered": dict(counts), "ocr_candidates": dict(sorted(ocr_per_lang.items())), "pages": {"total": len(pages), "with_samples": sum(r is None for r in pages.values()),
                                                  "without_samples": dict(Counter(r for r in pages.values() if r))},
             "skips": skips.details, "seconds": round(time.perf_counter() - t0, 1)}
    from textsynth.evaluation.review import bench_id_of

    stats["bench_id"] = bench_id_of(samples)   # what `bench prune` checks review decisions against
    atomic_write(fs, f"{root}/stats.json", json.dumps(stats, indent=1, ensure_ascii=False).encode())
    write_manifest(fs, root, "bench")
    return stats


def _page_outcomes(cands: list[Candidate], kept: list[int], fate: dict[int, str], skips: Skips) -> dict:
    """Every page -> None (it gave a sample) or why not: its own skip reason, else the furthest
    stage its candidates reached, else the commonest reason its blocks were skipped."""
    furthest: dict[str, str] = {}
    for i, f in fate.items():
        pid = cands[i].page_id
        if pid not in furthest or FATES.index(f) > FATES.index(furthest[pid]):
            furthest[pid] = f
    with_samples = {cands[i].page_id for i in kept}
    out = {}
    for pid, reason in skips.pages.items():   # every source registers each page it reads
        if pid in with_samples:
            out[pid] = None
        elif reason:
            out[pid] = reason
        elif pid in furthest:
            out[pid] = furthest[pid]
        elif skips.block_reasons.get(pid):
            out[pid] = skips.block_reasons[pid].most_common(1)[0][0]
        else:
            out[pid] = "no_usable_text_block"
    return out


def explain(reasons: dict) -> str:
    """{reason: pages} in words: '12 pages: no text detected; 8 pages: blocks below ...'."""
    if not reasons:
        return "no pages found in the inputs"
    return "; ".join(f"{n} page{'s' * (n != 1)}: {REASONS.get(r, r)}" for r, n in Counter(reasons).most_common())
