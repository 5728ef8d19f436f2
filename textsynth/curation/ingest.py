"""Inputs -> pages -> crops.

An input argument is a *category* (the report dedups within a document category): a file,
a folder (searched recursively), an http(s) URL, or shards: webdataset ``.tar`` files and
parquet tables of image bytes or image URLs, as paths, folders, brace patterns
(``web-{000..099}.tar``) or URIs on any pyarrow filesystem (``s3://bucket/web/``). Files are
sorted and grouped into *partitions*, the unit of work and of resume; a shard is a partition
on its own. A shard's category is a metadata field of its samples (``ingest.category_field``)
or else the shard's folder.

A file yields pages (PDF pages rendered with pypdfium2, an image file, a web page
screenshotted in headless Chromium, every image of a shard); a page is cut into crops at
native resolution (or resized whole). Anything unreadable becomes a :class:`Reject` carrying
the file (and the shard key) and the reason, never an exception out of the job.

Inputs come from strangers, so what one may cost is bounded by ``ingest`` keys, each checked
before the work it bounds: pixels of an image or a rendered PDF page (``max_image_pixels``),
pages per PDF, bytes of a file, shard member or table cell read into memory, of a shard
sample and of a parquet row group (parquet compresses: a small file can declare gigabytes),
rows per table and bytes of sample metadata. Past a limit the item is a counted reject.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from textsynth.shardio import Refused as TarRefused
from textsynth.shardio import (SHARD_SUFFIXES, TABLE_SUFFIXES, is_uri, open_input, public_uri, shard_uris,
                               split_query, tar_samples)

PDF_EXT = {".pdf"}
IMAGE_EXT = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff"}
HTML_EXT = {".html", ".htm"}
SHARD_KINDS = ("shard", "table")   # one partition each


@dataclass(frozen=True)
class Source:
    """One input file or URL, in its category."""
    uri: str          # a path (as given, joined with the file's relative path) or a URL
    kind: str         # pdf | image | html | url | shard | table | unknown
    category: str     # for shards: the fallback when samples carry no category field


@dataclass(frozen=True)
class Partition:
    index: int
    sources: tuple[Source, ...]

    @property
    def name(self) -> str:   # as its work files and completion marker are named
        return f"part-{self.index:06d}"


@dataclass
class Page:
    image: np.ndarray            # (H, W, 3) uint8 RGB
    origin: dict                 # file, page (1-based or None), plus what made it
    category: str | None = None  # a shard sample's own category (else its source's)


@dataclass
class Reject(Exception):
    reason: str
    detail: str = ""
    origin: dict = field(default_factory=dict)


def kind_of(path: str) -> str:
    if path.startswith(("http://", "https://")):
        return "url"
    ext = Path(split_query(path)[0]).suffix.lower()
    return ("pdf" if ext in PDF_EXT else "image" if ext in IMAGE_EXT else "html" if ext in HTML_EXT
            else "shard" if ext in SHARD_SUFFIXES else "table" if ext in TABLE_SUFFIXES else "unknown")


def category_name(arg: str) -> str:
    arg = split_query(arg)[0]
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
        if is_uri(arg) or "{" in arg:
            uris = shard_uris(arg, SHARD_SUFFIXES + TABLE_SUFFIXES)
            if not uris:
                raise FileNotFoundError(f"curate input {arg}: no .tar or .parquet shards there")
            sources += [Source(u, kind_of(u), shard_category(u)) for u in uris]
            continue
        p = Path(os.path.abspath(arg))  # Ray workers do not share our working directory
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and kind_of(str(f)) != "unknown")
            sources += [Source(str(f), k, shard_category(str(f)) if k in SHARD_KINDS else cat)
                        for f in files for k in [kind_of(str(f))]]
        elif p.is_file():
            k = kind_of(str(p))
            sources.append(Source(str(p), k, shard_category(str(p)) if k in SHARD_KINDS else cat))
        else:
            raise FileNotFoundError(f"curate input not found: {arg}")
    return sources


def shard_category(uri: str) -> str:
    """A shard's fallback dedup category: the folder it lies in."""
    uri = split_query(uri)[0]
    return uri.rstrip("/").rsplit("/", 2)[-2] if "/" in uri.rstrip("/") else "shards"


def partitions(sources: list[Source], per_partition: int) -> list[Partition]:
    """Files grouped ``per_partition`` at a time, in order; every shard a partition alone."""
    groups: list[list[Source]] = []
    for src in sources:
        if src.kind in SHARD_KINDS or not groups or len(groups[-1]) >= per_partition \
                or groups[-1][0].kind in SHARD_KINDS:
            groups.append([src])
        else:
            groups[-1].append(src)
    return [Partition(i, tuple(g)) for i, g in enumerate(groups)]


def parse_ranges(spec: str, n: int) -> list[int]:
    """1-based page ranges like "1-3,7" -> 0-based indices < n ("" = all pages). A range is
    clipped to the document first, so "1-999999999" costs what the document has."""
    if not spec.strip():
        return list(range(n))
    out: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.strip().partition("-")
        a, b = int(lo), int(hi) if hi else int(lo)
        out += range(max(a, 1) - 1, min(b, n))
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
        cap = cfg["max_pages_per_file"]
        if cap and len(pages) > cap:
            yield Reject("too_many_pages", f"{len(pages)} pages selected; pages after the first {cap} "
                         "were not read (ingest.max_pages_per_file)", {**origin, "page": None})
            pages = pages[:cap]
        for i in pages:
            o = {**origin, "page": i + 1, "dpi": cfg["pdf_dpi"]}
            try:
                page = pdf[i]
                if too_big := _page_too_big(page, cfg):
                    yield Reject("too_many_pixels", too_big, o)
                    continue
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


def _page_too_big(page, cfg: dict) -> str:
    """Why a PDF page must not be rendered ("" if it may): its declared size at ``pdf_dpi``
    is over ``max_image_pixels`` (a page may declare 14400 x 14400 pt, 368 MP at 96 dpi)."""
    w_pt, h_pt = page.get_size()
    scale = cfg["pdf_dpi"] / 72
    w, h = round(w_pt * scale), round(h_pt * scale)
    if w * h <= cfg["max_image_pixels"]:
        return ""
    return (f"{w_pt:g}x{h_pt:g} pt at {cfg['pdf_dpi']} dpi is {w}x{h} px, over "
            f"{cfg['max_image_pixels']} pixels (ingest.max_image_pixels)")


def load_image(data: bytes, max_pixels: int) -> np.ndarray:
    """Decode image bytes to RGB, refusing decompression bombs and truncated files."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None  # we check the size ourselves, with our own limit
    with Image.open(io.BytesIO(data)) as im:
        if im.width * im.height > max_pixels:
            raise Reject("too_many_pixels", f"{im.width}x{im.height} > {max_pixels} pixels")
        im.load()  # a truncated file raises here (Pillow's LOAD_TRUNCATED_IMAGES is off)
        return np.asarray(im.convert("RGB"))


def read_file(path: str, max_bytes: int) -> bytes:
    """A file's bytes, refusing one over ``max_bytes`` before reading it (and reading no more
    than that of a file whose size lies, like a device or a pipe)."""
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise Reject("file_too_large", f"over {max_bytes} bytes (ingest.max_file_bytes)")
    return data


def image_pages(path: str, cfg: dict) -> Iterator[Page | Reject]:
    origin = {"file": path, "page": None}
    try:
        data = read_file(path, cfg["max_file_bytes"])
        yield Page(load_image(data, cfg["max_image_pixels"]), origin)
    except Reject as r:
        yield Reject(r.reason, r.detail, origin)
    except Exception as e:
        yield Reject("unreadable_image", f"{type(e).__name__}: {e}", origin)


def web_pages(url: str, cfg: dict) -> Iterator[Page | Reject]:
    """A web page screenshotted under the network policy (textsynth.netpolicy). The requests
    it refused are one ``web_requests_blocked`` reject beside the page (which is captured
    without them); that reject's origin counts them as ``blocked_requests``."""
    from textsynth.curation.webshot import WebShotError, capture
    from textsynth.netpolicy import Policy, Refused, check_url

    target = url if url.startswith(("http://", "https://")) else Path(url).resolve().as_uri()
    origin = {"file": url, "page": None, "viewport_width": cfg["html_width"]}
    policy = Policy.from_config(cfg)
    try:
        check_url(target, policy, own_file=target)
        png, blocked = capture(target, cfg["html_width"], cfg["html_max_height"], cfg["html_timeout_s"],
                               policy)
        page = Page(load_image(png, cfg["max_image_pixels"]), origin)
    except Refused as e:
        yield Reject("url_refused", f"{url[:200]}: {e}", origin)
        return
    except WebShotError as e:
        yield Reject(e.reason, e.detail, origin)
        return
    except Reject as r:
        yield Reject(r.reason, r.detail, origin)
        return
    except Exception as e:
        yield Reject("unreadable_web_page", f"{type(e).__name__}: {str(e).splitlines()[0]}", origin)
        return
    if blocked:
        shown = "; ".join(blocked[:20]) + (f"; and {len(blocked) - 20} more" if len(blocked) > 20 else "")
        yield Reject("web_requests_blocked", f"{len(blocked)} request(s) refused by the network policy "
                     f"(the page was captured without them): {shown}",
                     {**origin, "blocked_requests": len(blocked)})
    yield page


def _field(meta: dict | None, path: str):
    """``meta["a"]["b"]`` for path "a.b"; None when any part is missing."""
    for part in path.split("."):
        if not isinstance(meta, dict):
            return None
        meta = meta.get(part)
    return None if meta is None else str(meta)


def _decode(data: bytes, origin: dict, category: str | None, cfg: dict) -> Page | Reject:
    try:
        return Page(load_image(data, cfg["max_image_pixels"]), origin, category)
    except Reject as r:
        return Reject(r.reason, r.detail, origin)
    except Exception as e:
        return Reject("unreadable_image", f"{type(e).__name__}: {e}", origin)


LIMIT_KEYS = {"member_too_large": "max_file_bytes", "sample_too_large": "max_sample_bytes"}


def _metadata_category(data: bytes, cfg: dict) -> str | None:
    """The category in a sample's ``.json`` member; None when unreadable (the shard's folder
    is then the category). Raises Reject for metadata over ``max_json_bytes`` (parsed JSON
    takes several times its size)."""
    import json

    if len(data) > cfg["max_json_bytes"]:
        raise Reject("metadata_too_large", f"the .json member is {len(data)} bytes, over "
                     f"{cfg['max_json_bytes']} (ingest.max_json_bytes)")
    try:
        return _field(json.loads(data), cfg["category_field"])
    except (ValueError, RecursionError):   # RecursionError: nested too deeply
        return None


def shard_pages(uri: str, cfg: dict) -> Iterator[Page | Reject]:
    """Every image of a webdataset shard; its ``.json`` member may carry the category."""
    import tarfile

    try:
        for key, files in tar_samples(uri, cfg["max_file_bytes"], cfg["max_sample_bytes"]):
            origin = {"file": public_uri(uri), "page": None, "key": key}
            if isinstance(files, TarRefused):
                limit = LIMIT_KEYS.get(files.reason)
                yield Reject(files.reason, files.detail + (f" (ingest.{limit})" if limit else ""), origin)
                continue
            ext = next((e for e in sorted(files) if "." + e.rsplit(".", 1)[-1] in IMAGE_EXT), None)
            if ext is None:
                yield Reject("sample_without_image", f"members .{', .'.join(sorted(files))}", origin)
                continue
            try:
                category = (_metadata_category(files["json"], cfg)
                            if cfg["category_field"] and "json" in files else None)
            except Reject as r:
                yield Reject(r.reason, r.detail, origin)
                continue
            yield _decode(files[ext], origin, category, cfg)
    except (tarfile.TarError, OSError, EOFError) as e:
        yield Reject("unreadable_shard", f"{type(e).__name__}: {e} (samples before the damage were read)",
                     {"file": public_uri(uri), "page": None})


def fetch_url(url: str, cfg: dict) -> bytes:
    """An image by URL under the network policy (textsynth.netpolicy: every redirect hop and
    the address connected to are checked), within ``url_timeout_s`` in total and
    ``url_max_bytes``."""
    from textsynth.netpolicy import Policy, Refused, TimedOut, fetch

    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise Reject("bad_url", f"{str(url)[:200]!r} is not an http(s) URL")
    try:
        data = fetch(url, Policy.from_config(cfg), cfg["url_timeout_s"], cfg["url_max_bytes"] + 1)
    except Refused as e:
        raise Reject("url_refused", f"{url[:200]}: {e}") from None
    except TimedOut:
        raise Reject("url_timeout", f"{url[:200]}: not fetched within ingest.url_timeout_s = "
                     f"{cfg['url_timeout_s']:g} s") from None
    except Exception as e:
        raise Reject("unreadable_url", f"{url[:200]}: {type(e).__name__}: {e}") from None
    if len(data) > cfg["url_max_bytes"]:
        raise Reject("url_too_large", f"{url[:200]}: over {cfg['url_max_bytes']} bytes")
    return data


IMAGE_COLUMNS = ("image", "jpg", "png", "webp", "img", "image_bytes")
URL_COLUMNS = ("url", "image_url", "URL")


def _column_type_problem(kind, url: bool) -> str:
    """Why a column of arrow type ``kind`` cannot hold image URLs (``url``) or image bytes
    (directly or as a Hugging Face image struct's ``bytes``); "" when it can."""
    import pyarrow as pa

    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if url:
        return "" if str(kind) in ("string", "large_string", "string_view") else \
            f"is {kind}; image URLs must be strings"
    if pa.types.is_struct(kind) and kind.get_field_index("bytes") >= 0:
        kind = kind.field("bytes").type
    ok = str(kind) in ("binary", "large_binary", "binary_view") or pa.types.is_fixed_size_binary(kind)
    return "" if ok else f"is {kind}; image bytes must be binary (or a struct with binary 'bytes')"


def _row_group_bytes(table, group: int, columns: list[str]) -> int:
    """Uncompressed bytes of ``columns`` in one row group, from the file's metadata."""
    rg = table.metadata.row_group(group)
    chunks = (rg.column(j) for j in range(rg.num_columns))
    return sum(c.total_uncompressed_size for c in chunks
               if c.path_in_schema.split(".", 1)[0] in columns)


def table_pages(uri: str, cfg: dict) -> Iterator[Page | Reject]:
    """Every image of a parquet table: a bytes column (or a Hugging Face image struct with
    ``bytes``), or a URL column fetched with a timeout and a size limit. Rows past
    ``max_table_rows`` and row groups over ``max_row_group_bytes`` (uncompressed, from the
    metadata, before they are read) are counted rejects."""
    import pyarrow.parquet as pq

    where = {"file": public_uri(uri), "page": None}
    try:
        table = pq.ParquetFile(open_input(uri))
        names = table.schema_arrow.names
    except Exception as e:
        yield Reject("unreadable_table", f"{type(e).__name__}: {e}", where)
        return
    image_col = cfg["table_image_column"] or next((c for c in IMAGE_COLUMNS if c in names), "")
    url_col = cfg["table_url_column"] or ("" if image_col else next((c for c in URL_COLUMNS if c in names), ""))
    column = image_col or url_col
    if column not in names:
        yield Reject("no_image_column", f"columns {names}; set ingest.table_image_column or "
                     "ingest.table_url_column", where)
        return
    if problem := _column_type_problem(table.schema_arrow.field(column).type, column == url_col):
        key = "table_url_column" if column == url_col else "table_image_column"
        yield Reject("bad_column_type", f"column {column!r} {problem} (ingest.{key})", where)
        return
    field = cfg["category_field"]
    wanted = sorted({c for c in (column, "key", field.split(".")[0] if field else "") if c in names})
    rows_left = cfg["max_table_rows"]
    if table.metadata.num_rows > rows_left:
        yield Reject("too_many_rows", f"{table.metadata.num_rows} rows; rows after the first {rows_left} "
                     "were not read (ingest.max_table_rows)", where)
    n = 0
    for group in range(table.num_row_groups):
        if rows_left <= 0:
            break
        size = _row_group_bytes(table, group, wanted)
        if size > cfg["max_row_group_bytes"]:
            yield Reject("row_group_too_large", f"row group {group}: columns {wanted} hold {size} bytes "
                         f"uncompressed, over {cfg['max_row_group_bytes']} (ingest.max_row_group_bytes)", where)
            rows_left -= table.metadata.row_group(group).num_rows
            continue
        try:
            for batch in table.iter_batches(batch_size=64, row_groups=[group], columns=wanted):
                for row in batch.to_pylist()[:rows_left]:
                    rows_left -= 1
                    origin = {**where, "key": str(row.get("key") or f"row{n:09d}")}
                    n += 1
                    yield _table_cell(row, column, column == url_col, origin, cfg)
        except Exception as e:  # damaged pages: the rows before them were read
            yield Reject("unreadable_table", f"row group {group}: {type(e).__name__}: {e}", where)


def _table_cell(row: dict, column: str, url: bool, origin: dict, cfg: dict) -> Page | Reject:
    """The image of one table row: its cell's bytes, or fetched by its cell's URL."""
    value = row[column]
    if isinstance(value, dict):  # datasets.Image: {"bytes": ..., "path": ...}
        value = value.get("bytes")
    try:
        if value is None:
            raise Reject("empty_image_cell", f"column {column!r} is null")
        if not url and len(value) > cfg["max_file_bytes"]:
            raise Reject("cell_too_large", f"column {column!r} holds {len(value)} bytes, over "
                         f"{cfg['max_file_bytes']} (ingest.max_file_bytes)")
        data = fetch_url(value, cfg) if url else value
    except Reject as r:
        return Reject(r.reason, r.detail, origin)
    field = cfg["category_field"]
    return _decode(data, origin, _field(row, field) if field else None, cfg)


def pages(source: Source, cfg: dict) -> Iterator[Page | Reject]:
    """The pages of one source (``cfg`` is the ``ingest`` section)."""
    if source.kind == "pdf":
        yield from pdf_pages(source.uri, cfg)
    elif source.kind == "image":
        yield from image_pages(source.uri, cfg)
    elif source.kind in ("html", "url"):
        yield from web_pages(source.uri, cfg)
    elif source.kind == "shard":
        yield from shard_pages(source.uri, cfg)
    elif source.kind == "table":
        yield from table_pages(source.uri, cfg)
    else:
        yield Reject("unsupported_file", f"unknown file type {Path(source.uri).suffix!r}",
                     {"file": public_uri(source.uri), "page": None})


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

