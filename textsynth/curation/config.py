"""Curation config: defaults in one place, merged and checked like the synthesis config.

Threshold defaults come from the calibration in BENCHMARKS.md (crops of real PDF pages and
their blurred / JPEG-compressed copies).
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

from textsynth import paths
from textsynth.config import SEED_MAX, ConfigError, check_output, choice, merge, number, pair, read_yaml

DEFAULT_CONFIG = paths.packaged_config("curate_docs.yaml")

DEFAULTS: dict = {
    "seed": 0,
    "ingest": {
        "pdf_dpi": 96,               # render scale for PDF pages (72 = 1 px per point); 96 puts
                                     # 10-11 pt body text at ~10-13 px, inside the 5-20 px range
        "pdf_pages": "",             # page ranges per PDF, e.g. "1-5,9" (1-based); "" = all
        "max_pages_per_file": 2000,  # pages read per PDF (of those pdf_pages selects); the rest
                                     # of a longer PDF is one too_many_pages reject. 0 = no limit
        "min_page_text_chars": 20,   # PDF pages whose text layer has fewer chars are blank
        "max_image_pixels": 80_000_000,   # decompression-bomb guard: an image (file, shard member,
                                     # cell, screenshot) or a PDF page at pdf_dpi with more pixels
                                     # is a too_many_pixels reject, refused before decoding
        # Bounds on what one input may hold in memory; past one, the item is a counted reject
        # (the reason in brackets), never read.
        "max_file_bytes": 256_000_000,    # an image file (file_too_large), a shard member
                                     # (member_too_large) or a parquet image cell (cell_too_large);
                                     # sparse shard members are always refused (sparse_member)
        "max_sample_bytes": 512_000_000,  # a shard sample's members together (sample_too_large)
        "max_json_bytes": 16_000_000,     # a sample's .json, parsed for category_field
                                     # (metadata_too_large)
        "max_table_rows": 100_000,        # rows read per parquet table; the rest is one
                                     # too_many_rows reject (parquet stores a billion null rows
                                     # in a few KB)
        "max_row_group_bytes": 1_000_000_000,  # a parquet row group's read columns, uncompressed,
                                     # from the metadata before reading (row_group_too_large)
        "html_width": 1280,          # viewport width for web pages
        "html_max_height": 8000,     # full-page screenshots are cut off here
        "html_timeout_s": 30,        # total budget per web page: launch, load, scripts and
                                     # screenshot; past it the page is a web_page_timeout reject
        "files_per_partition": 1,    # a partition (the unit of resume) is this many input files;
                                     # a .tar / .parquet shard is always a partition on its own
        "category_field": "",        # shards: the dedup category from each sample's metadata
                                     # (a key of its .json member / a parquet column; "a.b" nests);
                                     # "" or missing = the shard's folder
        "table_image_column": "",    # parquet: the image bytes column ("" = image, jpg, png, ...)
        "table_url_column": "",      # parquet: or a column of image URLs ("" = url, image_url)
        "url_timeout_s": 10,         # total per image URL (connects, redirects, headers, body);
                                     # past it the URL is a url_timeout reject
        "allow_private_addresses": False,  # web pages and URLs may reach loopback, link-local
                                     # and private addresses (textsynth.netpolicy): only for
                                     # trusted inputs, e.g. an intranet or a local test server
        "allow_networks": [],        # or just these private networks, as CIDRs ("10.1.0.0/16")
        "url_max_bytes": 20_000_000,  # larger downloads are url_too_large rejects
    },
    "crop": {
        "mode": "tiles",             # tiles: native-resolution crops | whole: the page resized
        "sizes": [256, 512],         # crop sides (px); each tile position picks one by seed
        "stride_frac": 1.0,          # tile step as a fraction of the crop side
        "whole_max_side": 1024,      # mode whole: longest side after resizing
        "min_ink_frac": 0.01,        # cheap blank filter: share of pixels off the paper colour
    },
    "clarity": {                     # a crop passes when every bound holds (see clarity.py)
        "min_sharpness": 1.0,
        "min_laplacian_var": 2000.0,
        "min_tenengrad": 5000.0,
        "max_blockiness": 1.35,
        "after_detection": False,    # with ocr.detect_first: clarity only for crops with text
                                     # (faster on mostly text-free input; blurred pages are then
                                     # det_too_few_chars rather than blurry)
    },
    "ocr": {
        "model_dir": "",             # default: $TEXTSYNTH_HOME/models (PP-OCRv5 from assets fetch)
        "det_dir": "",               # or official Paddle inference model dirs
        "rec_dir": "",
        "min_score": 0.5,            # recognised lines below this confidence are ignored
        "device": "cpu",             # cpu | cuda (onnxruntime's CUDA provider: the gpu extra)
        "detect_first": True,        # text detection alone first (batched per page): crops whose
                                     # line boxes cannot hold a character count inside the density
                                     # window are rejected before recognition (~20x cheaper)
        "det_margins": [0.8, 2.0],   # widen that window (low, high) for the estimate's error;
                                     # calibrated in BENCHMARKS.md ("Detection first")
    },
    "density": {                     # recognised characters (no spaces) per crop, by language
        # Per 256x256 of crop area. The report's benchmark kept 200-600 (zh) / 300-600 (en)
        # at ~16 px (zh) / ~10 px (en); training crops at native size are allowed sparser.
        "chars": {"zh": [100, 800], "en": [150, 1000], "mixed": [100, 800]},
        "per_mpx": [0, 100_000_000], # characters per megapixel (crops of any size)
        "scale_to_256": True,        # scale the char ranges by crop area / 256^2
    },
    "dedup": {
        "ngram": {"zh": 3, "en": 5},  # n per script: Han characters / everything else
        "page_threshold": 0.2,       # n-gram overlap within one page
        "category_threshold": 0.3,   # ... within one category (an --input argument)
        "phash_max_distance": 4,     # bits of 64; visual near-duplicates (-1 = off)
    },
    "output": {"format": "png", "png_level": 1, "png_encoder": "zlib", "jpeg_quality": 95,
               "reject_examples_per_reason": 8},
}

FREE_FORM = {"density.chars", "dedup.ngram"}


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
    """Every value type- and range-checked before any work starts, naming the key."""
    number("seed", cfg["seed"], 0, SEED_MAX, integer=True)
    ing = cfg["ingest"]
    number("ingest.pdf_dpi", ing["pdf_dpi"], 1, 1200)
    _check_pages(ing["pdf_pages"])
    for key in ("max_pages_per_file", "min_page_text_chars"):
        number(f"ingest.{key}", ing[key], 0, integer=True)
    for key in ("max_image_pixels", "files_per_partition", "url_max_bytes", "max_file_bytes",
                "max_sample_bytes", "max_json_bytes", "max_table_rows", "max_row_group_bytes"):
        number(f"ingest.{key}", ing[key], 1, integer=True)
    number("ingest.html_width", ing["html_width"], 64, 8192, integer=True)
    number("ingest.html_max_height", ing["html_max_height"], 64, 65536, integer=True)
    for key in ("html_timeout_s", "url_timeout_s"):
        number(f"ingest.{key}", ing[key], 0, 3600, above=True)
    _check_networks(ing["allow_networks"])
    crop = cfg["crop"]
    choice("crop.mode", crop["mode"], ("tiles", "whole"))
    if not isinstance(crop["sizes"], list) or not crop["sizes"]:
        raise ConfigError(f"config key 'crop.sizes' must list one or more crop sides, got {crop['sizes']!r}")
    for i, side in enumerate(crop["sizes"]):
        number(f"crop.sizes[{i}]", side, 32, 4096, integer=True)
    number("crop.stride_frac", crop["stride_frac"], 0, 4, above=True)
    number("crop.whole_max_side", crop["whole_max_side"], 32, 16384, integer=True)
    number("crop.min_ink_frac", crop["min_ink_frac"], 0, 1)
    cl = cfg["clarity"]
    for key in ("min_sharpness", "min_laplacian_var", "min_tenengrad"):
        number(f"clarity.{key}", cl[key], 0)
    number("clarity.max_blockiness", cl["max_blockiness"], 0, above=True)
    ocr = cfg["ocr"]
    number("ocr.min_score", ocr["min_score"], 0, 1)
    choice("ocr.device", ocr["device"], ("cpu", "cuda"))
    if cl["after_detection"] and not ocr["detect_first"]:
        raise ConfigError("clarity.after_detection needs ocr.detect_first: true")
    m = ocr["det_margins"]
    pair("ocr.det_margins", m, 0)
    if not 0 < m[0] <= 1 <= m[1]:
        raise ConfigError(f"ocr.det_margins must be [low <= 1, high >= 1], got {m}")
    den = cfg["density"]
    if set(den["chars"]) != {"zh", "en", "mixed"}:
        raise ConfigError(f"density.chars needs an entry for each of zh, en and mixed (and no other), "
                          f"got {sorted(den['chars'], key=str)}")
    for lang, rng in den["chars"].items():
        pair(f"density.chars.{lang}", rng, 0)
    pair("density.per_mpx", den["per_mpx"], 0)
    dd = cfg["dedup"]
    if set(dd["ngram"]) != {"zh", "en"}:
        raise ConfigError(f"dedup.ngram must give n for zh and en, got {dd['ngram']}")
    for lang, n in dd["ngram"].items():
        number(f"dedup.ngram.{lang}", n, 1, 64, integer=True)
    for key in ("page_threshold", "category_threshold"):
        number(f"dedup.{key}", dd[key], 0, 1)
    number("dedup.phash_max_distance", dd["phash_max_distance"], -1, 64, integer=True)
    check_output("output", cfg["output"])
    number("output.reject_examples_per_reason", cfg["output"]["reject_examples_per_reason"], 0, 10000,
           integer=True)


def load_curate_config(path: str | Path | None = None, **overrides) -> dict:
    """Defaults, then the YAML file (the bundled docs config if None), then overrides."""
    data = read_yaml(Path(path) if path else DEFAULT_CONFIG)
    cfg = merge(DEFAULTS, data, free_form=FREE_FORM)
    cfg = merge(cfg, {k: v for k, v in overrides.items() if v is not None}, free_form=FREE_FORM)
    _check(cfg)
    return cfg
