"""Bench candidates from a PDF's text layer: text rects grouped into lines, lines into blocks
at vertical gaps; each page is rendered at exactly the scale that makes a block's line height
f_ref px, so no resampling blurs the glyphs."""

from __future__ import annotations

import numpy as np

from textsynth.evaluation.sources.common import F_REF, SIDE, Candidate, Skips, bench_lang, scale_for, window


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
        blk["lang"] = bench_lang("".join(ln["text"] for ln in blk["lines"]))
    return blocks


def window_chars(lines: list[dict], x: int, y: int, scale: float, height_pt: float, side: int = SIDE) -> int:
    """Characters of the text layer inside the side x side crop at page pixel (x, y): a line
    counts when its middle is inside vertically, with the share of its characters that its
    horizontal overlap with the crop holds (characters taken as evenly spread)."""
    n = 0.0
    for ln in lines:
        top, bottom = (height_pt - ln["t"]) * scale, (height_pt - ln["b"]) * scale
        if not y <= (top + bottom) / 2 <= y + side:
            continue
        left, right = ln["l"] * scale, ln["r"] * scale
        overlap = max(0.0, min(right, x + side) - max(left, x))
        chars = sum(not c.isspace() for c in ln["text"])
        n += chars * (overlap / (right - left) if right > left else 1.0)
    return int(n)


def candidates(path: str, category: str, max_pages: int, skips: Skips, min_block_chars: int = 0,
               min_window_chars: dict[str, int] | None = None) -> list[Candidate]:
    """Candidate crops of every text block of a PDF. ``min_window_chars`` ({lang: n}): skip a
    crop whose text layer holds fewer than n characters before any OCR (it cannot reach the
    bench's character range; the margin below the range covers what the layer misses)."""
    from textsynth.extras import require

    pdfium = require("pypdfium2", "reading PDFs")

    out: list[Candidate] = []
    try:
        pdf = pdfium.PdfDocument(path)
    except Exception as e:
        skips.page(path, "unreadable_pdf", f"{type(e).__name__}: {e}")
        return out
    try:
        for i in range(min(len(pdf), max_pages) if max_pages else len(pdf)):
            page_id = f"{path}#{i + 1}"
            page = pdf[i]
            width_pt, height_pt = page.get_size()
            blocks = text_blocks(page.get_textpage())
            page_lines = [ln for bl in blocks for ln in bl["lines"]]   # what a crop's window may hold
            skips.page(page_id, None if blocks else "no_text_layer")
            rendered: dict[float, np.ndarray] = {}
            for b, blk in enumerate(blocks):
                where = f"{page_id} block {b}"
                if sum(len(ln["text"]) for ln in blk["lines"]) < min_block_chars:
                    skips.skip("short_block", where, page=page_id)  # a heading or a page number: rarely enough text
                    continue
                scale = scale_for(blk["lang"], blk["em"])  # px per point
                if scale is None:
                    skips.skip("implausible_char_size", where, f"line height {blk['em']:.1f} pt", page=page_id)
                    continue
                if scale not in rendered:
                    rendered[scale] = page.render(scale=scale).to_numpy()[:, :, :3].copy()
                img = rendered[scale]
                at = window(blk["left"] * scale, (height_pt - blk["top"]) * scale, img.shape[1], img.shape[0])
                if at is None:
                    skips.skip("page_smaller_than_crop", where, f"{img.shape[1]}x{img.shape[0]} px at scale {scale}", page=page_id)
                    continue
                x, y = at
                if min_window_chars:
                    have = window_chars(page_lines, x, y, scale, height_pt)
                    if have < min_window_chars.get(blk["lang"], 0):
                        skips.skip("sparse_crop", where, f"{have} text-layer characters in the crop",
                                   page=page_id)
                        continue
                out.append(Candidate(np.ascontiguousarray(img[y:y + SIDE, x:x + SIDE]),
                                     {"file": path, "page": i + 1, "scale": scale, "box": [x, y, x + SIDE, y + SIDE],
                                      "line_pt": round(blk["em"], 2), "data_source": category},
                                     page_id, category, blk["lang"]))
    finally:
        pdf.close()
    return out
