"""Synthesis config: plain data, defaults in one place, unknown keys are errors.

A YAML file only needs the keys it changes; :func:`load_config` deep-merges it over
:data:`DEFAULTS` and rejects keys that don't exist (a typo must not silently fall back to
a default) and values of the wrong type.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO_ROOT / "pipelines" / "configs" / "synth_en_zh.yaml"

DEFAULTS: dict = {
    "seed": 0,
    "canvas": {"width": 256, "height": 256},
    "background": {
        "mode": "photo",          # photo | plain
        "dirs": [],               # default: $TEXTSYNTH_HOME/backgrounds
        "min_crop_frac": 0.25,    # crop side as a fraction of the photo's largest fitting crop
        "max_image_pixels": 40_000_000,
    },
    "fonts": {"dirs": [], "exclude": []},   # default dirs: $TEXTSYNTH_HOME/fonts
    "text": {
        "corpora": {},            # {lang: [files]}; default: $TEXTSYNTH_HOME/corpora/<lang>-*.txt
        "lang_probs": {"en": 0.45, "zh": 0.45, "mixed": 0.10},
        "max_text_retries": 8,    # resample the text when no font draws it
    },
    "size": {
        "buckets": {"5-8": [5, 8], "9-12": [9, 12], "13-16": [13, 16], "17-20": [17, 20]},
        "bucket_probs": {"5-8": 0.25, "9-12": 0.25, "13-16": 0.25, "17-20": 0.25},
    },
    "layout": {
        "lines": [2, 8],          # text lines per canvas (inclusive range)
        "blocks": [1, 3],
        "mode_probs": {"lines": 0.5, "paragraph": 0.5},
        "align_probs": {"left": 0.6, "center": 0.2, "right": 0.2},
        "line_spacing": [1.0, 1.5],   # baseline pitch as a multiple of the font's line height
        "margin": 6,
        "min_block_width_frac": 0.5,
    },
    "color": {
        "min_contrast": 3.0,      # WCAG contrast ratio vs. low/high luminance percentiles under a line
        "bg_percentiles": [10, 90],
        "tries": 12,
        "outline_prob": 0.0,
        "shadow_prob": 0.0,
        "panel_prob": 0.0,        # a panel is also added whenever no colour reaches min_contrast
    },
    "output": {"format": "png", "png_level": 1, "jpeg_quality": 95, "char_boxes": False,
               # a job (or `render`) that makes fewer than this share of the samples asked
               # for exits non-zero, naming the top skip reasons
               "min_yield": 0.5},
}


# Mappings whose keys are the user's choice (languages, bucket names, files), replaced whole.
FREE_FORM = {"text.corpora", "text.lang_probs", "size.buckets", "size.bucket_probs",
             "layout.mode_probs", "layout.align_probs"}


class ConfigError(ValueError):
    pass


def merge(base: dict, over: dict, where: str = "", free_form: set[str] = FREE_FORM) -> dict:
    """``over`` deep-merged into ``base``; unknown keys and wrong types raise ConfigError."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        path = f"{where}.{key}" if where else key
        if key not in base:
            raise ConfigError(f"unknown config key '{path}' (known: {', '.join(sorted(base))})")
        default = base[key]
        if isinstance(default, dict) and not isinstance(value, dict):
            raise ConfigError(f"config key '{path}' must be a mapping, got {value!r}")
        if isinstance(default, dict) and path not in free_form:
            out[key] = merge(default, value, path, free_form)
        elif isinstance(default, bool) and not isinstance(value, bool):
            raise ConfigError(f"config key '{path}' must be true/false, got {value!r}")
        elif isinstance(default, (int, float)) and not isinstance(default, bool) and (
                isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ConfigError(f"config key '{path}' must be a number, got {value!r}")
        elif isinstance(default, list) and not isinstance(value, list):
            raise ConfigError(f"config key '{path}' must be a list, got {value!r}")
        else:
            out[key] = copy.deepcopy(value)
    return out


def _check(cfg: dict) -> None:
    probs = [("text.lang_probs", cfg["text"]["lang_probs"]),
             ("size.bucket_probs", cfg["size"]["bucket_probs"]),
             ("layout.mode_probs", cfg["layout"]["mode_probs"]),
             ("layout.align_probs", cfg["layout"]["align_probs"])]
    for name, p in probs:
        if not p or any(v < 0 for v in p.values()) or sum(p.values()) <= 0:
            raise ConfigError(f"{name} must map choices to non-negative weights, got {p}")
    unknown = set(cfg["text"]["lang_probs"]) - {"en", "zh", "mixed"}
    if unknown:
        raise ConfigError(f"text.lang_probs: unknown languages {sorted(unknown)}")
    for b in cfg["size"]["bucket_probs"]:
        if b not in cfg["size"]["buckets"]:
            raise ConfigError(f"size.bucket_probs names bucket '{b}' missing from size.buckets")
    for b, (lo, hi) in cfg["size"]["buckets"].items():
        if not (3 <= lo <= hi <= 200):
            raise ConfigError(f"size.buckets.{b}: need 3 <= lo <= hi <= 200, got {[lo, hi]}")
    w, h = cfg["canvas"]["width"], cfg["canvas"]["height"]
    if not (16 <= w <= 2048 and 16 <= h <= 2048):
        raise ConfigError(f"canvas must be 16..2048 px per side, got {w}x{h}")
    if cfg["background"]["mode"] not in ("photo", "plain"):
        raise ConfigError(f"background.mode must be photo or plain, got {cfg['background']['mode']!r}")
    if not 0 <= cfg["output"]["min_yield"] <= 1:
        raise ConfigError(f"output.min_yield must be in [0, 1], got {cfg['output']['min_yield']}")
    if cfg["output"]["format"] not in ("png", "jpg", "webp"):
        raise ConfigError(f"output.format must be png, jpg or webp, got {cfg['output']['format']!r}")
    lo, hi = cfg["layout"]["lines"]
    if not 1 <= lo <= hi:
        raise ConfigError(f"layout.lines must be [min, max] with 1 <= min <= max, got {[lo, hi]}")


def read_yaml(path: Path) -> dict:
    """A YAML config file's top-level mapping, or a ConfigError naming the file."""
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must be a mapping at top level")
    return data


def load_config(path: str | Path | None = None, **overrides) -> dict:
    """Defaults, then the YAML file (the bundled English/Chinese config if None), then overrides."""
    data = read_yaml(Path(path) if path else DEFAULT_CONFIG)
    cfg = merge(DEFAULTS, data)
    cfg = merge(cfg, {k: v for k, v in overrides.items() if v is not None})
    _check(cfg)
    return cfg
