"""Bench candidates from bare page images (screenshots, scans): PP-OCRv5 finds the text
lines, lines are grouped into blocks, a block's median line height is its character size.

PP-OCRv5's detector grows each text region before boxing it (DB unclip ratio 1.5), so its
line boxes are taller than the text, more so for Latin lines than for Han ones:
DET_BOX_TO_LINE converts a detected box height to the tight line height that the PDF text
layer and the annotations measure. Measured as median text-layer line height over median
detected box height on five pages of the ci-profile PDFs rendered at 2x (Chinese 0.88 and
0.97; English 0.75, 0.84, 0.87) and on a page drawn at a known size (Chinese 1.0)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from textsynth.evaluation.sources.common import Candidate, Skips, bench_lang, scale_for, scaled_crop

DET_BOX_TO_LINE = {"zh": 0.95, "en": 0.82}
MIN_OVERLAP = 0.5     # horizontal overlap (of the narrower) for a line to join a block
MAX_GAP = 0.8         # vertical gap, in line heights, that still continues a block
HEIGHT_RATIO = 1.6    # a line this much taller or shorter than the block's starts another (detected
                      # heights vary ~1.5x with ascenders and descenders; headings are ~2x)


def group_blocks(lines) -> list[list]:
    """Lines (objects with .bbox = x0, y0, x1, y1) grouped into blocks of consecutive,
    horizontally overlapping lines of similar height; columns stay apart."""
    blocks: list[dict] = []
    for ln in sorted(lines, key=lambda l: (l.bbox[1], l.bbox[0])):
        x0, y0, x1, y1 = ln.bbox
        h = y1 - y0
        for blk in reversed(blocks):
            bx0, _, bx1, by1 = blk["box"]
            overlap = min(x1, bx1) - max(x0, bx0)
            same_height = 1 / HEIGHT_RATIO <= h / blk["h"] <= HEIGHT_RATIO
            if overlap >= MIN_OVERLAP * min(x1 - x0, bx1 - bx0) and -0.5 * h <= y0 - by1 <= MAX_GAP * blk["h"] \
                    and same_height:
                blk["lines"].append(ln)
                blk["box"] = [min(bx0, x0), blk["box"][1], max(bx1, x1), max(by1, y1)]
                blk["h"] = float(np.median([l.bbox[3] - l.bbox[1] for l in blk["lines"]]))
                break
        else:
            blocks.append({"lines": [ln], "box": [x0, y0, x1, y1], "h": float(h)})
    return [b["lines"] for b in blocks]


def candidates(path: Path, page: np.ndarray, category: str, ocr, skips: Skips) -> list[Candidate]:
    """Candidates of one decoded page image (RGB)."""
    page_id = str(path)
    lines = ocr.read(page)
    if not lines:
        skips.page(page_id, "no_text_detected")
        return []
    skips.page(page_id)
    out = []
    for b, blk in enumerate(group_blocks(lines)):
        text = "".join(ln.text for ln in blk)
        lang = bench_lang(text)
        line_px = float(np.median([ln.bbox[3] - ln.bbox[1] for ln in blk])) * DET_BOX_TO_LINE[lang]
        where = f"{page_id} block {b}"
        scale = scale_for(lang, line_px)
        if scale is None:
            skips.skip("implausible_char_size", where, f"line height {line_px:.1f} px", page=page_id)
            continue
        x0, y0 = min(ln.bbox[0] for ln in blk), min(ln.bbox[1] for ln in blk)
        got = scaled_crop(page, x0, y0, scale)
        if got is None:
            skips.skip("page_smaller_than_crop", where, f"{page.shape[1]}x{page.shape[0]} px at scale {scale}", page=page_id)
            continue
        crop, box = got
        out.append(Candidate(crop, {"file": str(path), "page": None, "scale": scale, "box": box,
                                    "line_px": round(line_px, 2), "data_source": category,
                                    "block": {"index": b, "lines": len(blk), "bbox": [
                                        x0, y0, max(ln.bbox[2] for ln in blk), max(ln.bbox[3] for ln in blk)]}},
                               page_id, category, lang))
    return out
