"""Curation config: every key declared once, as the typed :class:`CurateConfig` below, merged
and checked like the synthesis config.

Threshold defaults come from the calibration in BENCHMARKS.md (crops of real PDF pages and
their blurred / JPEG-compressed copies).
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

from pydantic import Field
from typing_extensions import Annotated

from textsynth import paths
from textsynth.config import SEED_MAX, ImageEncoding, merge, read_yaml
from textsynth.schema import (ConfigError, Literal, Range, Section, defaults, free_form_keys, setting,
                              validate)

DEFAULT_CONFIG = paths.packaged_config("curate_docs.yaml")


class Ingest(Section):
    pdf_dpi: float = setting(96, "render scale for PDF pages (72 = 1 px per point); 96 puts 10-11 pt body "
                             "text at ~10-13 px, inside the 5-20 px range", 1, 1200)
    pdf_pages: str = setting("", "page ranges read per PDF, e.g. \"1-5,9\" (1-based); \"\" = all")
    max_pages_per_file: int = setting(2000, "pages read per PDF (of those pdf_pages selects); the rest of a "
                                      "longer PDF is one reject [too_many_pages]. 0 = no limit", 0)
    min_page_text_chars: int = setting(20, "PDF pages whose text layer has fewer chars are blank", 0)
    max_image_pixels: int = setting(80_000_000, "decompression-bomb guard: an image (file, shard member, "
                                    "cell, screenshot) or a PDF page at pdf_dpi with more pixels is "
                                    "refused before decoding [too_many_pixels]", 1)
    max_file_bytes: int = setting(256_000_000, "a larger image file [file_too_large], shard member "
                                  "[member_too_large] or parquet image cell [cell_too_large] is a reject, "
                                  "never read; sparse shard members always are [sparse_member]", 1)
    max_sample_bytes: int = setting(512_000_000, "a shard sample's members together; larger is a reject, "
                                    "never read [sample_too_large]", 1)
    max_json_bytes: int = setting(16_000_000, "a sample's .json, parsed for category_field; larger is a "
                                  "reject, never read [metadata_too_large]", 1)
    max_table_rows: int = setting(100_000, "rows read per parquet table; the rest is one reject "
                                  "[too_many_rows] (parquet stores a billion null rows in a few KB)", 1)
    max_row_group_bytes: int = setting(1_000_000_000, "a parquet row group's read columns, uncompressed, "
                                       "from the metadata before reading [row_group_too_large]", 1)
    html_width: int = setting(1280, "viewport width for web pages (px)", 64, 8192)
    html_max_height: int = setting(8000, "full-page screenshots are cut off here (px)", 64, 65536)
    html_timeout_s: float = setting(30, "total budget per web page: launch, load, scripts and screenshot; "
                                    "past it the page is a reject [web_page_timeout]", 0, 3600, above=True)
    files_per_partition: int = setting(1, "a partition (the unit of resume) is this many input files; a "
                                       ".tar / .parquet shard is always a partition on its own", 1)
    category_field: str = setting("", "shards: the dedup category from each sample's metadata (a key of its "
                                  ".json member / a parquet column; \"a.b\" nests); \"\" or missing = the "
                                  "shard's folder")
    table_image_column: str = setting("", "parquet: the image bytes column (\"\" = image, jpg, png, ...)")
    table_url_column: str = setting("", "parquet: or a column of image URLs (\"\" = url, image_url)")
    url_timeout_s: float = setting(10, "total per image URL (connects, redirects, headers, body); past it "
                                   "the URL is a reject [url_timeout]", 0, 3600, above=True)
    allow_private_addresses: bool = setting(False, "web pages and URLs may reach loopback, link-local and "
                                            "private addresses (textsynth.netpolicy): only for trusted "
                                            "inputs, e.g. an intranet or a local test server")
    allow_networks: list[str] = setting([], "or just these private networks, as CIDRs (\"10.1.0.0/16\")")
    url_max_bytes: int = setting(20_000_000, "larger downloads are rejects [url_too_large]", 1)


class Crop(Section):
    mode: Literal["tiles", "whole"] = setting("tiles", "tiles: native-resolution crops | whole: the page resized")
    sizes: Annotated[list[Annotated[int, Field(ge=32, le=4096)]], Field(min_length=1)] = setting(
        [256, 512], "crop sides (px); each tile position picks one by seed")
    stride_frac: float = setting(1.0, "tile step as a fraction of the crop side", 0, 4, above=True)
    whole_max_side: int = setting(1024, "mode whole: longest side after resizing (px)", 32, 16384)
    min_ink_frac: float = setting(0.01, "cheap blank filter: share of pixels off the paper colour", 0, 1)


class Clarity(Section):
    min_sharpness: float = setting(1.0, "lowest Laplacian std / mean gradient magnitude; a crop passes "
                                   "when every bound holds (textsynth/curation/clarity.py)", 0)
    min_laplacian_var: float = setting(2000.0, "lowest variance of the Laplacian (focus measure)", 0)
    min_tenengrad: float = setting(5000.0, "lowest mean squared Sobel gradient magnitude", 0)
    max_blockiness: float = setting(1.35, "highest evidence of earlier JPEG compression", 0, above=True)
    after_detection: bool = setting(False, "with ocr.detect_first: clarity only for crops with text (faster "
                                    "on mostly text-free input; blurred pages are then rejects "
                                    "[det_too_few_chars] rather than [blurry])")


class Ocr(Section):
    model_dir: str = setting("", "\"\" = $TEXTSYNTH_HOME/models (PP-OCRv5 from assets fetch)")
    det_dir: str = setting("", "or official Paddle inference model dirs: detection")
    rec_dir: str = setting("", "... and recognition")
    min_score: float = setting(0.5, "recognised lines below this confidence are ignored", 0, 1)
    device: Literal["cpu", "cuda"] = setting("cpu", "cpu | cuda (onnxruntime's CUDA provider: the gpu extra)")
    detect_first: bool = setting(True, "text detection alone first (batched per page): crops whose line boxes "
                                 "cannot hold a character count inside the density window are rejected "
                                 "before recognition (~20x cheaper)")
    det_margins: Range(0) = setting([0.8, 2.0], "widen that window (low <= 1, high >= 1) for the estimate's "
                                    "error; calibrated in BENCHMARKS.md (\"Detection first\")")


class Density(Section):
    chars: dict[str, Range(0)] = setting(
        {"zh": [100, 800], "en": [150, 1000], "mixed": [100, 800]},
        "recognised characters (no spaces) per 256x256 of crop area, for each of zh, en and mixed; the "
        "report's benchmark kept 200-600 (zh) / 300-600 (en) at ~16 px / ~10 px, training crops at native "
        "size are allowed sparser")
    per_mpx: Range(0) = setting([0, 100_000_000], "characters per megapixel (crops of any size)")
    scale_to_256: bool = setting(True, "scale the chars ranges by crop area / 256^2")


class Dedup(Section):
    ngram: dict[str, Annotated[int, Field(ge=1, le=64)]] = setting(
        {"zh": 3, "en": 5}, "n per script, zh and en: Han characters / everything else")
    page_threshold: float = setting(0.2, "n-gram overlap within one page", 0, 1)
    category_threshold: float = setting(0.3, "... within one category (an --input argument)", 0, 1)
    phash_max_distance: int = setting(4, "bits of 64; visual near-duplicates (-1 = off)", -1, 64)


class Output(ImageEncoding):
    reject_examples_per_reason: int = setting(8, "rejected crops kept per reject reason as JPEG examples, to look at",
                                              0, 10000)


class CurateConfig(Section):
    """The curation config (`textsynth curate`): real pages and images cut into clear, text-dense,
    deduplicated crops."""

    seed: int = setting(0, "the job's seed: every crop's randomness derives from it", 0, SEED_MAX)
    ingest: Ingest = setting(Ingest, "reading the inputs: PDFs, images, shards, tables, web pages, URLs")
    crop: Crop = setting(Crop, "how pages are cut into crops")
    clarity: Clarity = setting(Clarity, "sharpness and compression bounds a crop must meet")
    ocr: Ocr = setting(Ocr, "text detection and recognition")
    density: Density = setting(Density, "recognised characters (no spaces) per crop, by language")
    dedup: Dedup = setting(Dedup, "text and visual near-duplicate removal")
    output: Output = setting(Output, "how kept crops are encoded")


DEFAULTS: dict = defaults(CurateConfig)
# Mappings whose keys are the user's choice (languages), replaced whole.
FREE_FORM = free_form_keys(CurateConfig)


# "1-5,9": 1-based page numbers and ranges; the cap keeps a typo from meaning a billion pages
PAGE_RANGES = re.compile(r"\s*\d{1,7}(\s*-\s*\d{1,7})?\s*(,\s*\d{1,7}(\s*-\s*\d{1,7})?\s*)*")


def _check_pages(spec: str) -> None:
    if not spec.strip():
        return
    if not PAGE_RANGES.fullmatch(spec):
        raise ConfigError(f"config key 'ingest.pdf_pages' must be page ranges like \"1-5,9\" "
                          f"(1-based; \"\" = all pages), got {spec!r}")
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        if int(lo) < 1 or (hi and int(hi) < int(lo)):
            raise ConfigError(f"config key 'ingest.pdf_pages': range {part.strip()!r} must be "
                              "1-based with first <= last")


def _check_networks(nets: list) -> None:
    for i, net in enumerate(nets):
        try:
            ipaddress.ip_network(net if isinstance(net, str) else None)
        except (TypeError, ValueError):
            raise ConfigError(f"config key 'ingest.allow_networks[{i}]' must be a network like "
                              f"\"10.1.0.0/16\" (host bits zero), got {net!r}") from None


def _check(cfg: dict) -> None:
    """Every key's type and range (the schema above), then the rules between keys and the
    syntax of page ranges and networks, before any work starts; the message names the key."""
    validate(CurateConfig, cfg)
    _check_pages(cfg["ingest"]["pdf_pages"])
    _check_networks(cfg["ingest"]["allow_networks"])
    if cfg["clarity"]["after_detection"] and not cfg["ocr"]["detect_first"]:
        raise ConfigError("clarity.after_detection needs ocr.detect_first: true")
    m = cfg["ocr"]["det_margins"]
    if not 0 < m[0] <= 1 <= m[1]:
        raise ConfigError(f"ocr.det_margins must be [low <= 1, high >= 1], got {m}")
    den = cfg["density"]
    if set(den["chars"]) != {"zh", "en", "mixed"}:
        raise ConfigError(f"density.chars needs an entry for each of zh, en and mixed (and no other), "
                          f"got {sorted(den['chars'], key=str)}")
    dd = cfg["dedup"]
    if set(dd["ngram"]) != {"zh", "en"}:
        raise ConfigError(f"dedup.ngram must give n for zh and en, got {dd['ngram']}")


def load_curate_config(path: str | Path | None = None, **overrides) -> dict:
    """Defaults, then the YAML file (the bundled docs config if None), then overrides."""
    data = read_yaml(Path(path) if path else DEFAULT_CONFIG)
    cfg = merge(DEFAULTS, data, free_form=FREE_FORM)
    cfg = merge(cfg, {k: v for k, v in overrides.items() if v is not None}, free_form=FREE_FORM)
    _check(cfg)
    return cfg
