"""Bench candidates from OmniDocBench: page images with layout annotations (report §5.2).

The annotation file is a JSON list of pages::

    {"layout_dets": [{"category_type": "text_block", "poly": [x1,y1, x2,y2, x3,y3, x4,y4],
                      "ignore": false, "anno_id": 3, "text": "...", "attribute": {...},
                      "line_with_spans": [{"category_type": "text_span", "poly": [...], ...}]}],
     "page_info": {"image_path": "x.jpg", "width": 1200, "height": 1684, "page_no": 0,
                   "page_attribute": {"data_source": "book", "language": "en", "layout": "single_column"}}}

Only blocks of running text become candidates (TEXT_CATEGORIES); tables, figures,
equations and page furniture (header, footer, page number, abandon) do not. A block's
character size is the median height of its ``text_span`` lines; without spans it is
estimated from the block's area and character count. The dedup category is the page's
``data_source``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from textsynth.config import read_json
from textsynth.evaluation.sources.common import Candidate, Skips, bench_lang, read_page, scale_for, scaled_crop
from textsynth.synthesis.scripts import is_han

TEXT_CATEGORIES = ("text_block", "title", "reference", "code_txt", "code_txt_caption", "figure_caption",
                   "figure_footnote", "table_caption", "table_footnote", "page_footnote")
LINE_SPACING = 1.2      # line pitch / line height, for the area-based size estimate
OUTSIDE_TOLERANCE = 2   # px an annotated corner may stray past the page edge (rounding)


def load(annotations: str | Path) -> list[dict]:
    """The page list of an OmniDocBench annotation file, or a ValueError naming the file."""
    path = Path(annotations)
    pages = read_json(path, "OmniDocBench annotations")
    if not isinstance(pages, list):
        raise ValueError(f"{path}: expected a JSON list of pages (OmniDocBench format), got {type(pages).__name__}")
    return pages


def _box(poly) -> tuple[float, float, float, float] | None:
    """(x0, y0, x1, y1) of an 8-number polygon, or None when it is not one."""
    if not isinstance(poly, list) or len(poly) != 8 or not all(isinstance(v, (int, float)) for v in poly):
        return None
    xs, ys = poly[0::2], poly[1::2]
    return min(xs), min(ys), max(xs), max(ys)


def char_size(block: dict, box: tuple) -> float | None:
    """Line height in page pixels: median text-span height, else from area / characters."""
    spans = [_box(s.get("poly")) for s in block.get("line_with_spans") or []
             if s.get("category_type", "text_span") == "text_span"]
    heights = [b[3] - b[1] for b in spans if b and b[3] > b[1]]
    if heights:
        return float(np.median(heights))
    text = "".join((block.get("text") or "").split())
    # A Han character is about one line height wide, a Latin one about half.
    width_units = sum(1.0 if is_han(ch) else 0.5 for ch in text)
    area = (box[2] - box[0]) * (box[3] - box[1])
    return float(np.sqrt(area / (LINE_SPACING * width_units))) if width_units and area > 0 else None


def _attr(page_info: dict, name: str, default: str = "unknown") -> str:
    value = (page_info.get("page_attribute") or {}).get(name)
    return str(value) if value not in (None, "") else default


def candidates(page: dict, index: int, images: Path, skips: Skips, max_pixels: int = 100_000_000) -> list[Candidate]:
    """Candidates of one annotated page (``index`` in the file, for messages)."""
    info = page.get("page_info") if isinstance(page, dict) else None
    if not isinstance(info, dict) or not info.get("image_path"):
        skips.page(f"page[{index}]", "malformed_page", "no page_info.image_path")
        return []
    page_id = str(info["image_path"])
    path = images / page_id
    if not path.is_file():
        skips.page(page_id, "image_missing", str(path))
        return []
    img = read_page(path, page_id, skips, max_pixels)
    if img is None:
        return []
    h, w = img.shape[:2]
    # Coordinates are in page_info's width x height; an image stored at another size is scaled.
    sx, sy = (w / info["width"], h / info["height"]) if info.get("width") and info.get("height") else (1.0, 1.0)
    source = _attr(info, "data_source")
    meta = {"data_source": source, "layout": _attr(info, "layout"), "language": _attr(info, "language")}
    dets = page.get("layout_dets")
    if not isinstance(dets, list):
        skips.page(page_id, "malformed_page", "layout_dets is not a list")
        return []
    out = []
    for d, det in enumerate(dets):
        if not isinstance(det, dict):
            skips.skip("malformed_block", f"{page_id} layout_dets[{d}]", "not an object", page=page_id)
            continue
        category = det.get("category_type")
        where = f"{page_id} anno {det.get('anno_id', d)} ({category})"
        if category not in TEXT_CATEGORIES:
            skips.counts["not_a_text_block"] += 1      # tables, figures, furniture: many, expected
            continue
        if det.get("ignore"):
            skips.skip("ignored_block", where, page=page_id)
            continue
        raw = _box(det.get("poly"))
        if raw is None:
            skips.skip("malformed_polygon", where, f"poly {det.get('poly')!r:.80}", page=page_id)
            continue
        box = (raw[0] * sx, raw[1] * sy, raw[2] * sx, raw[3] * sy)
        t = OUTSIDE_TOLERANCE
        if box[0] < -t or box[1] < -t or box[2] > w + t or box[3] > h + t or box[2] <= box[0] or box[3] <= box[1]:
            skips.skip("polygon_outside_page", where, f"box {[round(v) for v in box]} on a {w}x{h} page", page=page_id)
            continue
        text = det.get("text") or ""
        if not text.strip():
            skips.skip("empty_text", where, page=page_id)
            continue
        lang = _block_lang(det, text)
        px = char_size(det, raw)
        px = px * sy if px else None
        scale = scale_for(lang, px) if px else None
        if scale is None:
            skips.skip("implausible_char_size", where, f"line height {px}", page=page_id)
            continue
        got = scaled_crop(img, max(0, box[0]), max(0, box[1]), scale)
        if got is None:
            skips.skip("page_smaller_than_crop", where, f"{w}x{h} px at scale {scale}", page=page_id)
            continue
        crop, crop_box = got
        out.append(Candidate(crop, {"file": page_id, "page": info.get("page_no"), "scale": scale, "box": crop_box,
                                    "line_px": round(px, 2), **meta,
                                    "block": {"anno_id": _int(det.get("anno_id"), d), "category_type": category,
                                              "poly": [float(v) for v in det["poly"]]}},
                               page_id, source, lang))
    skips.page(page_id, None if out else "no_usable_text_block")
    return out


def _block_lang(det: dict, text: str) -> str:
    """The block's text_language attribute when annotated, else guessed from its text."""
    tl = (det.get("attribute") or {}).get("text_language", "")
    if tl in ("text_simplified_chinese", "text_en_ch_mixed"):
        return "zh"
    return "en" if tl == "text_en" else bench_lang(text)


def _int(value, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default
