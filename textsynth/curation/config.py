"""Curation config: defaults in one place, merged and checked like the synthesis config.

Threshold defaults come from the calibration in BENCHMARKS.md (crops of real PDF pages and
their blurred / JPEG-compressed copies).
"""

from __future__ import annotations

from pathlib import Path

from textsynth import paths
from textsynth.config import ConfigError, merge, read_yaml

DEFAULT_CONFIG = paths.packaged_config("curate_docs.yaml")

DEFAULTS: dict = {
    "seed": 0,
    "ingest": {
        "pdf_dpi": 96,               # render scale for PDF pages (72 = 1 px per point); 96 puts
                                     # 10-11 pt body text at ~10-13 px, inside the 5-20 px range
        "pdf_pages": "",             # page ranges per PDF, e.g. "1-5,9" (1-based); "" = all
        "max_pages_per_file": 0,     # 0 = no limit
        "min_page_text_chars": 20,   # PDF pages whose text layer has fewer chars are blank
        "max_image_pixels": 80_000_000,   # decompression-bomb guard for image files
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
        "url_timeout_s": 10,         # per image URL
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
        "phash_max_distance": 4,     # bits of 64; visual near-duplicates
    },
    "output": {"format": "png", "png_level": 1, "png_encoder": "zlib", "jpeg_quality": 95,
               "reject_examples_per_reason": 8},
}

FREE_FORM = {"density.chars", "dedup.ngram"}


def _check(cfg: dict) -> None:
    if cfg["crop"]["mode"] not in ("tiles", "whole"):
        raise ConfigError(f"crop.mode must be tiles or whole, got {cfg['crop']['mode']!r}")
    if not cfg["crop"]["sizes"] or any(not isinstance(s, int) or not 32 <= s <= 4096
                                       for s in cfg["crop"]["sizes"]):
        raise ConfigError(f"crop.sizes must be integers in 32..4096, got {cfg['crop']['sizes']}")
    if not 0 < cfg["crop"]["stride_frac"] <= 4:
        raise ConfigError("crop.stride_frac must be in (0, 4]")
    for lang, rng in cfg["density"]["chars"].items():
        if not (isinstance(rng, list) and len(rng) == 2 and 0 <= rng[0] <= rng[1]):
            raise ConfigError(f"density.chars.{lang} must be [min, max], got {rng}")
    for lang in ("zh", "en", "mixed"):
        if lang not in cfg["density"]["chars"]:
            raise ConfigError(f"density.chars needs an entry for '{lang}'")
    if set(cfg["dedup"]["ngram"]) != {"zh", "en"}:
        raise ConfigError(f"dedup.ngram must give n for zh and en, got {cfg['dedup']['ngram']}")
    if cfg["output"]["format"] not in ("png", "jpg", "webp"):
        raise ConfigError(f"output.format must be png, jpg or webp, got {cfg['output']['format']!r}")
    if cfg["output"]["png_encoder"] not in ("zlib", "fpng"):
        raise ConfigError(f"output.png_encoder must be zlib or fpng, got {cfg['output']['png_encoder']!r}")
    if cfg["ocr"]["device"] not in ("cpu", "cuda"):
        raise ConfigError(f"ocr.device must be cpu or cuda, got {cfg['ocr']['device']!r}")
    if cfg["clarity"]["after_detection"] and not cfg["ocr"]["detect_first"]:
        raise ConfigError("clarity.after_detection needs ocr.detect_first: true")
    m = cfg["ocr"]["det_margins"]
    if not (isinstance(m, list) and len(m) == 2 and 0 < m[0] <= 1 <= m[1]):
        raise ConfigError(f"ocr.det_margins must be [low <= 1, high >= 1], got {m}")
    if cfg["ingest"]["files_per_partition"] < 1:
        raise ConfigError("ingest.files_per_partition must be >= 1")


def load_curate_config(path: str | Path | None = None, **overrides) -> dict:
    """Defaults, then the YAML file (the bundled docs config if None), then overrides."""
    data = read_yaml(Path(path) if path else DEFAULT_CONFIG)
    cfg = merge(DEFAULTS, data, free_form=FREE_FORM)
    cfg = merge(cfg, {k: v for k, v in overrides.items() if v is not None}, free_form=FREE_FORM)
    _check(cfg)
    return cfg
