"""Inputs -> pages -> crops.

An input argument is a *category* (the report dedups within a document category): a file,
a folder (searched recursively) or an http(s) URL. Its files are sorted and grouped into
*partitions*, the unit of work and of resume. A file yields pages (PDF pages rendered with
pypdfium2, an image file, a web page screenshotted in headless Chromium); a page is cut into
crops at native resolution (or resized whole). Anything unreadable becomes a :class:`Reject`
carrying the file and the reason, never an exception out of the job.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

PDF_EXT = {".pdf"}
IMAGE_EXT = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff"}
HTML_EXT = {".html", ".htm"}


@dataclass(frozen=True)
class Source:
    """One input file or URL, in its category."""
    uri: str          # a path (as given, joined with the file's relative path) or a URL
    kind: str         # pdf | image | html | url | unknown
    category: str


@dataclass(frozen=True)
class Partition:
    index: int
    sources: tuple[Source, ...]


@dataclass
class Page:
    image: np.ndarray            # (H, W, 3) uint8 RGB
    origin: dict                 # file, page (1-based or None), plus what made it


@dataclass
class Reject(Exception):
    reason: str
    detail: str = ""
    origin: dict = field(default_factory=dict)


def kind_of(path: str) -> str:
    if path.startswith(("http://", "https://")):
        return "url"
    ext = Path(path).suffix.lower()
    return ("pdf" if ext in PDF_EXT else "image" if ext in IMAGE_EXT
            else "html" if ext in HTML_EXT else "unknown")


def category_name(arg: str) -> str:
    return arg.rstrip("/").rsplit("/", 1)[-1] or arg


def discover(inputs: list[str]) -> list[Source]:
    """Every source under the input arguments, in a stable order. A missing path is an
    error (a typo must not curate nothing); files of unknown type inside folders are
    skipped, a file given by name of unknown type is kept and rejected with its reason."""
    sources: list[Source] = []
    for arg in inputs:
        cat = category_name(arg)
        if kind_of(arg) == "url":
            sources.append(Source(arg, "url", cat))
            continue
        p = Path(os.path.abspath(arg))  # Ray workers do not share our working directory
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and kind_of(str(f)) != "unknown")
            sources += [Source(str(f), kind_of(str(f)), cat) for f in files]
        elif p.is_file():
            sources.append(Source(str(p), kind_of(str(p)), cat))
        else:
            raise FileNotFoundError(f"curate input not found: {arg}")
    return sources


def partitions(sources: list[Source], per_partition: int) -> list[Partition]:
    return [Partition(i // per_partition, tuple(sources[i:i + per_partition]))
            for i in range(0, len(sources), per_partition)]


def parse_ranges(spec: str, n: int) -> list[int]:
    """1-based page ranges like "1-3,7" -> 0-based indices < n ("" = all pages)."""
    if not spec.strip():
        return list(range(n))
    out: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.strip().partition("-")
        a, b = int(lo), int(hi) if hi else int(lo)
        out += [i - 1 for i in range(a, b + 1) if 1 <= i <= n]
    return sorted(set(out))


def pdf_pages(path: str, cfg: dict) -> Iterator[Page | Reject]:
    from textsynth.extras import require

    pdfium = require("pypdfium2", "reading PDFs")

    origin = {"file": path}
    try:
        pdf = pdfium.PdfDocument(path)
    except Exception as e:  # pdfium reports corrupt, encrypted and non-PDF files alike
        yield Reject("unreadable_pdf", f"{type(e).__name__}: {e}", origin)
        return
    try:
        pages = parse_ranges(cfg["pdf_pages"], len(pdf))
        if cfg["max_pages_per_file"]:
            pages = pages[:cfg["max_pages_per_file"]]
        for i in pages:
            o = {**origin, "page": i + 1, "dpi": cfg["pdf_dpi"]}
            try:
                page = pdf[i]
                chars = len(page.get_textpage().get_text_range().strip())
                if chars < cfg["min_page_text_chars"]:
                    yield Reject("blank_page", f"{chars} chars in the text layer", o)
                    continue
                img = page.render(scale=cfg["pdf_dpi"] / 72).to_numpy()
            except Exception as e:
                yield Reject("unreadable_page", f"{type(e).__name__}: {e}", o)
                continue
            yield Page(np.ascontiguousarray(img[:, :, :3]) if img.shape[2] >= 3 else
                       np.repeat(img[:, :, :1], 3, axis=2), o)
    finally:
        pdf.close()


def load_image(data: bytes, max_pixels: int) -> np.ndarray:
    """Decode image bytes to RGB, refusing decompression bombs and truncated files."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None  # we check the size ourselves, with our own limit
    with Image.open(io.BytesIO(data)) as im:
        if im.width * im.height > max_pixels:
            raise Reject("too_many_pixels", f"{im.width}x{im.height} > {max_pixels} pixels")
        im.load()  # a truncated file raises here (Pillow's LOAD_TRUNCATED_IMAGES is off)
        return np.asarray(im.convert("RGB"))


def image_pages(path: str, cfg: dict) -> Iterator[Page | Reject]:
    origin = {"file": path, "page": None}
    try:
        data = Path(path).read_bytes()
        yield Page(load_image(data, cfg["max_image_pixels"]), origin)
    except Reject as r:
        yield Reject(r.reason, r.detail, origin)
    except Exception as e:
        yield Reject("unreadable_image", f"{type(e).__name__}: {e}", origin)


def web_pages(url: str, cfg: dict) -> Iterator[Page | Reject]:
    from textsynth.curation.webshot import WebShotError, capture

    target = url if url.startswith(("http://", "https://")) else Path(url).resolve().as_uri()
    origin = {"file": url, "page": None, "viewport_width": cfg["html_width"]}
    try:
        png = capture(target, cfg["html_width"], cfg["html_max_height"], cfg["html_timeout_s"])
        yield Page(load_image(png, cfg["max_image_pixels"]), origin)
    except WebShotError as e:
        yield Reject(e.reason, e.detail, origin)
    except Reject as r:
        yield Reject(r.reason, r.detail, origin)
    except Exception as e:
        yield Reject("unreadable_web_page", f"{type(e).__name__}: {str(e).splitlines()[0]}", origin)


def pages(source: Source, cfg: dict) -> Iterator[Page | Reject]:
    """The pages of one source (``cfg`` is the ``ingest`` section)."""
    if source.kind == "pdf":
        yield from pdf_pages(source.uri, cfg)
    elif source.kind == "image":
        yield from image_pages(source.uri, cfg)
    elif source.kind in ("html", "url"):
        yield from web_pages(source.uri, cfg)
    else:
        yield Reject("unsupported_file", f"unknown file type {Path(source.uri).suffix!r}",
                     {"file": source.uri, "page": None})


def crop_boxes(h: int, w: int, cfg: dict, rng: np.random.Generator) -> list[tuple[int, int, int, int]]:
    """Tile boxes (x0, y0, x1, y1) covering the page at native resolution; each row of tiles
    draws its crop side from ``cfg['sizes']`` (those that fit)."""
    sizes = [s for s in cfg["sizes"] if s <= min(h, w)]
    if not sizes:
        return []
    boxes = []
    y = 0
    while True:
        side = int(rng.choice(sizes))
        if y + side > h:
            break
        step = max(1, int(side * cfg["stride_frac"]))
        boxes += [(x, y, x + side, y + side) for x in range(0, w - side + 1, step)]
        y += step
    return boxes


def crops(page: Page, cfg: dict, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, dict]]:
    """(crop, origin with its box) for each crop of a page (``cfg`` is the ``crop`` section)."""
    h, w = page.image.shape[:2]
    if cfg["mode"] == "whole":
        import cv2

        scale = min(1.0, cfg["whole_max_side"] / max(h, w))
        img = page.image if scale == 1.0 else cv2.resize(
            page.image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        yield img, {**page.origin, "box": [0, 0, w, h], "scale": round(scale, 6)}
        return
    for x0, y0, x1, y1 in crop_boxes(h, w, cfg, rng):
        yield page.image[y0:y1, x0:x1], {**page.origin, "box": [x0, y0, x1, y1]}


def ink_fraction(crop: np.ndarray) -> float:
    """Share of pixels that differ clearly from the crop's dominant (paper) grey level."""
    g = crop.mean(axis=2) if crop.ndim == 3 else crop.astype(np.float32)
    paper = float(np.median(g))
    return float((np.abs(g - paper) > 48).mean())

