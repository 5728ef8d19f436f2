"""Document pages drawn with real fonts and corpus text, and their OmniDocBench annotations.

Each page holds paragraphs at known positions and font sizes; the annotation records each
paragraph as a ``text_block`` with ``text_span`` lines, exactly where they were drawn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from textsynth import paths

PAGE_W, PAGE_H = 1000, 1300


def _font(package: str, size: int) -> ImageFont.FreeTypeFont:
    (path,) = [p for p in (paths.home() / "fonts" / package).iterdir() if p.suffix in (".ttf", ".ttc", ".otf")][:1]
    return ImageFont.truetype(str(path), size)


def corpus_text(lang: str, start: int, chars: int) -> str:
    """``chars`` characters of real prose from the asset corpus, from line ``start`` on."""
    lines = (paths.home() / "corpora" / f"{lang}-debian-reference.txt").read_text(encoding="utf-8").splitlines()
    out = ""
    for line in lines[start:]:
        if len(line) > 30:
            out += line + (" " if lang == "en" else "")
        if len(out) >= chars:
            return out[:chars]
    return out


def _wrap(draw, text: str, font, width: int, lang: str) -> list[str]:
    lines, cur = [], ""
    tokens, sep = (text.split(" "), " ") if lang == "en" else (list(text), "")
    for tok in tokens:
        trial = cur + sep + tok if cur else tok
        if draw.textlength(trial, font=font) > width and cur:
            lines.append(cur)
            cur = tok
        else:
            cur = trial
    return lines + [cur] if cur else lines


def draw_page(paragraphs: list[dict]) -> tuple[Image.Image, list[dict]]:
    """paragraphs: {lang, text, x, y, width, size}; returns the page and one
    OmniDocBench ``text_block`` per paragraph."""
    img = Image.new("RGB", (PAGE_W, PAGE_H), "white")
    draw = ImageDraw.Draw(img)
    dets = []
    for n, p in enumerate(paragraphs):
        font = _font("fonts-wqy-microhei" if p["lang"] == "zh" else "fonts-dejavu-core", p["size"])
        spans, y = [], p["y"]
        pitch = round(p["size"] * (1.2 if p["lang"] == "zh" else 1.35))
        for line in _wrap(draw, p["text"], font, p["width"], p["lang"]):
            if y + pitch > PAGE_H:
                break
            draw.text((p["x"], y), line, font=font, fill=(20, 20, 20))
            x0, y0, x1, y1 = draw.textbbox((p["x"], y), line, font=font)
            spans.append({"category_type": "text_span", "poly": [x0, y0, x1, y0, x1, y1, x0, y1],
                          "ignore": False, "text": line})
            y += pitch
        x0, y0 = p["x"], p["y"]
        x1, y1 = p["x"] + p["width"], y
        dets.append({"category_type": "text_block", "poly": [x0, y0, x1, y0, x1, y1, x0, y1], "ignore": False,
                     "order": n, "anno_id": n, "text": "".join(s["text"] for s in spans),
                     "attribute": {"text_language": "text_simplified_chinese" if p["lang"] == "zh" else "text_en"},
                     "line_with_spans": spans})
    return img, dets


def page_entry(image_path: str, dets: list[dict], data_source: str, language: str, layout: str) -> dict:
    return {"layout_dets": dets,
            "page_info": {"page_no": 0, "width": PAGE_W, "height": PAGE_H, "image_path": image_path,
                          "page_attribute": {"data_source": data_source, "language": language, "layout": layout}}}


def make_pages(out: Path) -> dict:
    """A Chinese book page and an English two-column paper page (PNG + JPEG) in ``out``;
    returns {name: (image, dets)}. Chinese body text: 20 px characters; English: 16 px."""
    out.mkdir(parents=True, exist_ok=True)
    zh_img, zh_dets = draw_page([
        {"lang": "zh", "text": corpus_text("zh", 2, 520), "x": 60, "y": 80, "width": 420, "size": 20},
        {"lang": "zh", "text": corpus_text("zh", 60, 520), "x": 520, "y": 80, "width": 420, "size": 20},
        {"lang": "zh", "text": corpus_text("zh", 140, 480), "x": 60, "y": 760, "width": 880, "size": 20},
    ])
    en_img, en_dets = draw_page([
        {"lang": "en", "text": corpus_text("en", 5, 1500), "x": 50, "y": 60, "width": 430, "size": 16},
        {"lang": "en", "text": corpus_text("en", 200, 1500), "x": 520, "y": 60, "width": 430, "size": 16},
    ])
    zh_img.save(out / "zh-book.png")
    en_img.save(out / "en-paper.jpg", quality=92)
    return {"zh-book.png": (zh_img, zh_dets), "en-paper.jpg": (en_img, en_dets)}


def write_annotations(path: Path, pages: dict, extra: list[dict] = ()) -> None:
    entries = [page_entry("zh-book.png", pages["zh-book.png"][1], "book", "simplified_chinese", "double_column"),
               page_entry("en-paper.jpg", pages["en-paper.jpg"][1], "academic_literature", "en", "double_column"),
               *extra]
    path.write_text(json.dumps(entries, ensure_ascii=False))


def blank(out: Path, name: str) -> None:
    Image.fromarray(np.full((PAGE_H, PAGE_W, 3), 250, np.uint8)).save(out / name)
