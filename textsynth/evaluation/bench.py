"""`textsynth bench build`: an OmniDoc-TokenBench-style text-fidelity benchmark (report §5.2).

1. Text blocks: from a PDF's text layer (pypdfium2 text rects grouped into lines, lines into
   blocks at vertical gaps), or from the OCR lines of curated doc shards.
2. Font normalisation: a 256x256 crop from the top-left corner of each block, scaled so one
   character is about f_ref px (16 for Chinese, 10 for English): a PDF page is rendered at
   exactly that scale, a doc crop is resized.
3. Content filter: PP-OCRv5 must find 200-600 (Chinese) or 300-600 (English) characters.
4. Dedup: character n-gram overlap (n = 3 Han / 5 other) above 0.2 within a page or 0.3
   within a category (an --input argument), keeping the sample with the most characters.
5. Balance: as many Chinese as English samples (a seeded choice among the survivors).

The human inspection step of the report is left to the user (the gallery shows the bench).
Output: shards in the sample contract (``source: doc``) plus ``stats.json``.
"""

from __future__ import annotations

import json
import tarfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from textsynth.curation import dedup, ingest
from textsynth.curation.cascade import count_chars, lang_of, size_bucket

F_REF = {"zh": 16, "en": 10}
CHAR_RANGE = {"zh": (200, 600), "en": (300, 600)}
SIDE = 256


@dataclass
class Candidate:
    image: np.ndarray
    origin: dict
    page_id: str
    category: str
    lang: str           # of the block's source text (decides f_ref)


def _text_lines(textpage) -> list[dict]:
    """Text rects of a PDF page grouped into lines (PDF points, y upwards)."""
    rects = []
    for i in range(textpage.count_rects()):
        l, b, r, t = textpage.get_rect(i)
        text = textpage.get_text_bounded(l, b, r, t).strip()
        if text and t > b:
            rects.append({"l": l, "b": b, "r": r, "t": t, "text": text})
    lines: list[dict] = []
    for rect in sorted(rects, key=lambda x: (-x["t"], x["l"])):
        cy = (rect["b"] + rect["t"]) / 2
        if lines and lines[-1]["b"] <= cy <= lines[-1]["t"]:
            line = lines[-1]
            line.update(l=min(line["l"], rect["l"]), r=max(line["r"], rect["r"]), text=line["text"] + rect["text"])
        else:
            lines.append(dict(rect))
    return lines


def text_blocks(textpage) -> list[dict]:
    """Blocks of consecutive lines: a vertical gap over 0.8 line heights starts a new one."""
    blocks: list[dict] = []
    for line in _text_lines(textpage):
        h = line["t"] - line["b"]
        if blocks and blocks[-1]["bottom"] - line["t"] <= 0.8 * h:
            blk = blocks[-1]
            blk["lines"].append(line)
            blk["bottom"], blk["left"] = line["b"], min(blk["left"], line["l"])
        else:
            blocks.append({"lines": [line], "top": line["t"], "bottom": line["b"], "left": line["l"]})
    for blk in blocks:
        blk["em"] = float(np.median([ln["t"] - ln["b"] for ln in blk["lines"]]))
        blk["lang"] = "zh" if lang_of("".join(ln["text"] for ln in blk["lines"])) in ("zh", "mixed") else "en"
    return blocks


def _window(x: float, y: float, w: int, h: int) -> tuple[int, int] | None:
    """Top-left of a SIDE x SIDE window at (x, y), pushed back inside a w x h image."""
    if w < SIDE or h < SIDE:
        return None
    return int(min(max(0, x), w - SIDE)), int(min(max(0, y), h - SIDE))


def pdf_candidates(path: str, category: str, max_pages: int, log, min_block_chars: int = 0,
                   counts: Counter | None = None) -> list[Candidate]:
    from textsynth.extras import require

    pdfium = require("pypdfium2", "reading PDFs")

    out = []
    try:
        pdf = pdfium.PdfDocument(path)
    except Exception as e:
        log(f"skip {path}: unreadable PDF ({type(e).__name__}: {e})")
        return out
    for i in range(min(len(pdf), max_pages) if max_pages else len(pdf)):
        page = pdf[i]
        width_pt, height_pt = page.get_size()
        rendered: dict[float, np.ndarray] = {}
        for blk in text_blocks(page.get_textpage()):
            if sum(len(ln["text"]) for ln in blk["lines"]) < min_block_chars:
                if counts is not None:
                    counts["short_block"] += 1   # a heading or a page number: rarely enough text
                continue
            scale = round(F_REF[blk["lang"]] / max(blk["em"], 1.0), 3)  # px per point
            if not 0.5 <= scale <= 8:
                continue
            if scale not in rendered:
                rendered[scale] = page.render(scale=scale).to_numpy()[:, :, :3].copy()
            img = rendered[scale]
            at = _window(blk["left"] * scale, (height_pt - blk["top"]) * scale, img.shape[1], img.shape[0])
            if at is None:
                continue
            x, y = at
            out.append(Candidate(np.ascontiguousarray(img[y:y + SIDE, x:x + SIDE]),
                                 {"file": path, "page": i + 1, "scale": scale, "box": [x, y, x + SIDE, y + SIDE]},
                                 f"{path}#{i + 1}", category, blk["lang"]))
    pdf.close()
    return out


def shard_candidates(root: Path, category: str) -> list[Candidate]:
    """Candidates from curated doc shards: each crop's first OCR line is its block's corner."""
    out = []
    for shard in sorted((root / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            members = {m.name: m for m in tar.getmembers()}
            for name in sorted(n for n in members if n.endswith(".json")):
                meta = json.loads(tar.extractfile(members[name]).read())
                if not meta.get("lines"):
                    continue
                key = name[:-5]
                img_name = next(n for n in members if n.startswith(key + ".") and n != name)
                img = cv2.imdecode(np.frombuffer(tar.extractfile(members[img_name]).read(), np.uint8), cv2.IMREAD_COLOR)
                lang = "zh" if meta["lang"] in ("zh", "mixed") else "en"
                em = float(np.median([ln["bbox"][3] - ln["bbox"][1] for ln in meta["lines"]]))
                scale = F_REF[lang] / max(em, 1.0)
                img = cv2.resize(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), None, fx=scale, fy=scale,
                                 interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
                x0, y0 = meta["lines"][0]["bbox"][:2]
                at = _window(x0 * scale, y0 * scale, img.shape[1], img.shape[0])
                if at is None:
                    continue
                x, y = at
                page_id = f"{meta['origin'].get('file')}#{meta['origin'].get('page')}"
                out.append(Candidate(np.ascontiguousarray(img[y:y + SIDE, x:x + SIDE]),
                                     {**meta["origin"], "from_key": key, "scale": round(scale, 4)},
                                     page_id, category, lang))
    return out


def char_range_ok(chars: int, lang: str) -> bool:
    lo, hi = CHAR_RANGE["zh" if lang in ("zh", "mixed") else "en"]
    return lo <= chars <= hi


def build(inputs: list[str], out: str, max_pages: int = 0, max_candidates: int = 0, seed: int = 0,
          ocr=None, log=print, progress: bool = True, min_block_chars: int = 0) -> dict:
    """Build a bench from PDFs / folders of PDFs / curated doc output dirs into ``out``."""
    from tqdm import tqdm

    from textsynth.synthesis.render import encode
    from textsynth.card import write_manifest
    from textsynth.shards import atomic_write, filesystem, pack, publish

    t0 = time.perf_counter()
    cands: list[Candidate] = []
    short: Counter = Counter()
    for arg in inputs:
        cat = ingest.category_name(arg)
        p = Path(arg)
        if (p / "shards").is_dir():
            cands += shard_candidates(p, cat)
        elif p.is_dir() or p.is_file():
            pdfs = sorted(p.rglob("*.pdf")) if p.is_dir() else [p]
            for pdf in pdfs:
                cands += pdf_candidates(str(pdf), cat, max_pages, log, min_block_chars, short)
        else:
            raise FileNotFoundError(f"bench input not found: {arg}")
    counts = Counter(candidates=len(cands), **short)
    cands = [c for c in cands if ingest.ink_fraction(c.image) >= 0.01]
    counts["blank"] = counts["candidates"] - len(cands)
    if max_candidates and len(cands) > max_candidates:
        pick = np.random.default_rng(seed).permutation(len(cands))[:max_candidates]
        counts["not_sampled"] = len(cands) - max_candidates
        cands = [cands[i] for i in sorted(pick)]
    if not cands:
        raise ValueError(f"no text blocks found in {inputs}")
    if ocr is None:
        from textsynth.ocr import OCR

        ocr = OCR()
    kept = []
    for i, c in enumerate(tqdm(cands, desc="bench OCR", unit="crop", disable=not progress)):
        lines = ocr.read(c.image)
        text = "\n".join(ln.text for ln in lines)
        chars, lang = count_chars(text), lang_of(text)
        if not char_range_ok(chars, lang):
            counts["char_count_out_of_range"] += 1
            continue
        kept.append((f"c{i:06d}", c, lines, text, chars, "zh" if lang in ("zh", "mixed") else "en"))

    by_key = {k: (c, lines, text, chars, lang) for k, c, lines, text, chars, lang in kept}
    for level, threshold, group in (("page", 0.2, lambda c: c.page_id), ("category", 0.3, lambda c: c.category)):
        dropped = dedup.near_duplicates(
            [dedup.Candidate(k, group(v[0]), v[3], dedup.ngrams(v[2])) for k, v in by_key.items()], threshold)
        counts[f"dup_{level}"] += len(dropped)
        by_key = {k: v for k, v in by_key.items() if k not in dropped}

    per_lang = {lang: sorted(k for k, v in by_key.items() if v[4] == lang) for lang in ("zh", "en")}
    if per_lang["zh"] and per_lang["en"]:
        n = min(len(per_lang["zh"]), len(per_lang["en"]))
        rng = np.random.default_rng(seed)
        for lang, keys in per_lang.items():
            chosen = set(rng.permutation(keys)[:n].tolist())
            counts["balance_dropped"] += len(keys) - n
            per_lang[lang] = [k for k in keys if k in chosen]
    else:
        log("warning: the bench has only " + ("Chinese" if per_lang["zh"] else "English")
            + " samples; balance between languages is impossible with these inputs")

    samples = []
    for i, k in enumerate(sorted(per_lang["zh"] + per_lang["en"])):
        c, lines, text, chars, lang = by_key[k]
        key = f"bench-000000-{i:06d}"
        meta = {"source": "doc", "lang": lang_of(text), "width": SIDE, "height": SIDE, "text": text,
                "lines": [{"text": ln.text, "bbox": list(ln.bbox), "font": None, "px": F_REF[lang]} for ln in lines],
                "char_px": float(F_REF[lang]), "size_bucket": size_bucket(F_REF[lang]), "recipe": None,
                "origin": {**c.origin, "category": c.category}, "scores": {"ocr_chars": chars}}
        samples.append((key, f"{key}.png", encode(c.image, "png"), meta))
    fs, root = filesystem(out)
    tar_bytes, pq_bytes = pack(samples)
    publish(fs, root, "bench-000000", tar_bytes, pq_bytes, len(samples), inputs=inputs)
    langs = Counter(m["lang"] for *_, m in samples)
    stats = {"samples": len(samples), "by_lang": dict(langs), "filtered": dict(counts),
             "seconds": round(time.perf_counter() - t0, 1)}
    atomic_write(fs, f"{root}/stats.json", json.dumps(stats, indent=1).encode())
    write_manifest(fs, root, "bench")
    return stats
