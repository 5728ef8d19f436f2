"""Synthesis config: plain data, defaults in one place, unknown keys are errors.

A YAML file only needs the keys it changes; :func:`load_config` deep-merges it over
:data:`DEFAULTS` and rejects keys that don't exist (a typo must not silently fall back to
a default) and values of the wrong type. NaN and infinities (YAML's ``.nan``, ``.inf``) are
refused anywhere in a config: they pass every range check (``v < lo`` is false for NaN).
Every key is then checked for its type and range before any work starts, and the message
names the key. The checkers here (:func:`number`, :func:`pair`, :func:`weights`,
:func:`choice`, :func:`strings`) serve every textsynth config.
"""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path

import yaml
from pydantic import Field
from typing_extensions import Annotated

from textsynth import paths
from textsynth.schema import (ConfigError, Literal, Section, Weights, defaults, free_form_keys, Range,  # noqa: F401 (ConfigError re-exported)
                              optional_keys, setting, validate)

DEFAULT_CONFIG = paths.packaged_config("synth_en_zh.yaml")

SEED_MAX = 2 ** 63 - 1   # seeds are recorded in int64 parquet columns
BACKGROUND_MODES = ("photo", "plain", "paper", "scene")


class Canvas(Section):
    width: int = setting(256, "canvas width (px)", 16, 2048)
    height: int = setting(256, "canvas height (px)", 16, 2048)
    sizes: Weights = setting({}, "per-sample sizes by weight, e.g. {\"256x256\": 0.5, \"384x640\": 0.2, "
                              "\"1024x1024\": 0.3} (then width/height are unused)")


class Background(Section):
    mode: Literal["photo", "plain", "paper", "scene"] = setting(
        "photo", "photo (sampled photos) | plain | paper | scene (textsynth/synthesis/paper.py, scene.py)")
    mode_probs: Weights = setting({}, "per-sample modes by weight, e.g. {photo: 0.5, paper: 0.5}; overrides mode")
    plain_palette: Literal["realistic", "saturated"] = setting(
        "realistic", "plain colours: realistic (papers, UI, slides) | saturated (any RGB)")
    dirs: list[str] = setting([], "photo folders or .tar shards; default: $TEXTSYNTH_HOME/backgrounds")
    min_crop_frac: float = setting(0.25, "crop side as a fraction of the photo's largest fitting crop", 0.01, 1)
    max_image_pixels: int = setting(40_000_000, "larger photos are a counted skip, refused before decoding", 1)
    cache_mb: float = setting(32, "decoded photos kept per worker (an LRU, by bytes)", 1, 65536)
    max_member_mb: float = setting(256, "a shard member larger than this is never read: a counted "
                                    "bad_background:member_too_large skip (sparse members always are)", 1, 65536)


class Fonts(Section):
    dirs: list[str] = setting([], "font folders; default: $TEXTSYNTH_HOME/fonts")
    exclude: list[str] = setting([], "font file names (e.g. NotoSansCJK-Bold.ttc) never used")


class Text(Section):
    corpora: dict[str, list[str]] = setting({}, "{lang: [files]}, lang en or zh; default: "
                                            "$TEXTSYNTH_HOME/corpora/<lang>-*.txt")
    lang_probs: Weights = setting({"en": 0.45, "zh": 0.45, "mixed": 0.10},
                              "per block: each block of a sample draws its own language (en, zh or "
                              "mixed), so a sample whose blocks differ is labelled mixed (far more "
                              "often than the share of mixed blocks)")
    sample_lang_probs: Weights | None = setting(None, "per sample, e.g. {en: 0.45, zh: 0.45, mixed: 0.10}: "
                                                  "one language drawn per sample that all its blocks "
                                                  "use (lang_probs is then unused); null: per block")
    max_text_retries: int = setting(8, "resample the text when no font draws it", 0, 1000)


class Size(Section):
    buckets: dict[str, Range(5, 20, integer=True)] = setting(
        {"5-8": [5, 8], "9-12": [9, 12], "13-16": [13, 16], "17-20": [17, 20]},
        "character-size buckets: name -> [min_px, max_px], within the engine's 5-20 px")
    bucket_probs: Weights = setting({"5-8": 0.25, "9-12": 0.25, "13-16": 0.25, "17-20": 0.25},
                                "how often each bucket is drawn, by weight")


class Layout(Section):
    template_probs: Weights = setting({"blocks": 1.0}, "which layout template each sample uses, by weight: "
                                  "blocks dense columns heading lists table form slide caption "
                                  "(textsynth/synthesis/layouts/)")
    lines: Range(1, 200, integer=True) = setting([2, 8], "blocks template: text lines per canvas (inclusive range)")
    blocks: Range(1, 50, integer=True) = setting([1, 3], "blocks template: text blocks per canvas")
    mode_probs: Weights = setting({"lines": 0.5, "paragraph": 0.5}, "blocks template: separate lines or wrapped paragraphs")
    align_probs: Weights = setting({"left": 0.6, "center": 0.2, "right": 0.2}, "blocks template: line alignment")
    line_spacing: Range(0.8, 5) = setting([1.0, 1.5], "baseline pitch as a multiple of the font's line height")
    margin: int = setting(6, "canvas margin (px); at most (shorter side - 20) / 2", 0)
    min_block_width_frac: float = setting(0.5, "narrowest text block, a fraction of the canvas width", 0.05, 1)
    max_justify_gap: float = setting(2.0, "a justified line whose word gaps would exceed this many space "
                                      "widths is set ragged", 1, 10)


class Geometry(Section):
    prob: float = setting(0.0, "the share of samples whose text layer is rotated, put in perspective or "
                           "bent (textsynth/synthesis/geometry.py); 0 keeps every sample flat", 0, 1)
    kind_probs: Weights = setting({"rotate": 0.35, "perspective": 0.35, "arc": 0.15, "wave": 0.15},
                              "which warp, by weight: rotate perspective arc wave")
    max_rotate: float = setting(30.0, "degrees either way", 0, 90)
    max_perspective: float = setting(0.12, "how far a corner moves, a fraction of the canvas side", 0, 0.2)
    max_arc: float = setting(60.0, "degrees of arc the flat page's width spans at most", 1, 180)
    max_wave: float = setting(0.04, "wave amplitude, a fraction of the canvas height", 0, 0.1)


class Degrade(Section):
    prob: float = setting(0.0, "the share of samples that get capture degradations "
                           "(textsynth/synthesis/degrade.py); 0 = off", 0, 1)
    step_probs: dict[str, Annotated[float, Field(ge=0, le=1)]] = setting(
        {"defocus": 0.3, "motion": 0.15, "noise": 0.4, "jpeg": 0.4, "lighting": 0.3, "bleed": 0.15,
         "halftone": 0.15}, "each step's chance in a degraded sample")
    strength: float = setting(1.0, "a factor on the per-size-bucket caps (1: the caps the legibility "
                               "gate keeps readable)", 0, 1)


class Color(Section):
    min_contrast: float = setting(3.0, "WCAG contrast ratio vs. low/high luminance percentiles under a line", 1, 21)
    bg_percentiles: Range(0, 100, strict=True) = setting([10, 90], "the background luminance percentiles compared")
    tries: int = setting(12, "colours tried per line before a panel is added", 1, 1000)
    outline_prob: float = setting(0.0, "share of lines drawn with an outline", 0, 1)
    shadow_prob: float = setting(0.0, "share of lines drawn with a shadow", 0, 1)
    panel_prob: float = setting(0.0, "share of lines on a panel (also added whenever no colour reaches "
                                 "min_contrast)", 0, 1)


class ImageEncoding(Section):
    """How images are encoded (synth samples, curated crops)."""

    format: Literal["png", "jpg", "webp"] = setting("png", "image format")
    png_level: int = setting(1, "zlib compression level", 0, 9)
    png_encoder: Literal["zlib", "fpng"] = setting("zlib", "zlib (cv2 at png_level; smallest files) or fpng "
                                                       "(~15x faster to encode, ~1.3x larger); both "
                                                       "standard, lossless PNG")
    jpeg_quality: int = setting(95, "JPEG/WebP quality", 1, 100)


class Output(ImageEncoding):
    char_boxes: bool = setting(False, "record a box per character in the labels")
    min_yield: float = setting(0.5, "a job (or `render`) that makes fewer than this share of the samples "
                                "asked for exits non-zero, naming the top skip reasons", 0, 1)


class SynthConfig(Section):
    """The synthesis config (`textsynth render`, `textsynth synth`)."""

    seed: int = setting(0, "the job's seed: every sample's randomness derives from it", 0, SEED_MAX)
    canvas: Canvas = setting(Canvas, "the canvas each sample is drawn on")
    background: Background = setting(Background, "what the text is drawn on")
    fonts: Fonts = setting(Fonts, "the fonts text is set in")
    text: Text = setting(Text, "the text: corpora and languages")
    size: Size = setting(Size, "character sizes")
    layout: Layout = setting(Layout, "where text goes on the canvas")
    geometry: Geometry = setting(Geometry, "turned, perspective and bent text")
    degrade: Degrade = setting(Degrade, "capture degradations")
    color: Color = setting(Color, "text colour and legibility")
    output: Output = setting(Output, "how samples are encoded")


DEFAULTS: dict = defaults(SynthConfig)
# Mappings whose keys are the user's choice (languages, bucket names, files), replaced whole.
FREE_FORM = free_form_keys(SynthConfig)
# Mappings that may be null (unset), so `--set KEY=null` undoes a config file's value.
OPTIONAL = optional_keys(SynthConfig)




def nonfinite(value, where: str) -> tuple[str, float] | None:
    """``(key, value)`` of the first NaN or infinity in ``value`` (nested mappings and lists
    included; ``where`` names ``value`` itself), or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return where, value
    if isinstance(value, dict):
        items = ((f"{where}.{k}" if where else str(k), v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((f"{where}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for key, v in items:
        if bad := nonfinite(v, key):
            return bad
    return None


def finite(value, key: str) -> None:
    """No NaN or infinity anywhere in the config value ``value`` of ``key``."""
    if bad := nonfinite(value, key):
        raise ConfigError(f"config key '{bad[0]}' must be a finite number, got {bad[1]!r}")


def merge(base: dict, over: dict, where: str = "", free_form: set[str] = FREE_FORM) -> dict:
    """``over`` deep-merged into ``base``; unknown keys, wrong types (by the default's type)
    and non-finite numbers raise ConfigError."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        path = f"{where}.{key}" if where else key
        if key not in base:
            raise ConfigError(f"unknown config key '{path}' (known: {', '.join(sorted(base))})")
        default = base[key]
        finite(value, path)
        if value is None and path in OPTIONAL:
            out[key] = None
            continue
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
        elif isinstance(default, str) and not isinstance(value, str):
            raise ConfigError(f"config key '{path}' must be a string (quote it in YAML), got {value!r}")
        else:
            out[key] = copy.deepcopy(value)
    return out


def number(key: str, v, lo=None, hi=None, integer: bool = False, above: bool = False,
           below: bool = False) -> None:
    """``v`` must be a finite number (an integer when asked; never a bool) within [lo, hi]
    (``above``/``below``: strictly above ``lo``/below ``hi``); else a ConfigError names the key."""
    kind = "an integer" if integer else "a number"
    if isinstance(v, bool) or not isinstance(v, int if integer else (int, float)):
        raise ConfigError(f"config key '{key}' must be {kind}, got {v!r}")
    if isinstance(v, float) and not math.isfinite(v):
        raise ConfigError(f"config key '{key}' must be a finite number, got {v!r}")
    if (lo is not None and (v <= lo if above else v < lo)) or (hi is not None and (v >= hi if below else v > hi)):
        rng = (f"{'(' if above else '['}{lo if lo is not None else '-inf'}, "
               f"{hi if hi is not None else 'inf'}{')' if below else ']'}")
        raise ConfigError(f"config key '{key}' must be in {rng}, got {v!r}")


def pair(key: str, v, lo=None, hi=None, integer: bool = False, strict: bool = False) -> None:
    """``v`` must be ``[a, b]`` with a <= b (a < b when ``strict``), both within [lo, hi]."""
    if not isinstance(v, list) or len(v) != 2:
        raise ConfigError(f"config key '{key}' must be [min, max], got {v!r}")
    for i, x in enumerate(v):
        number(f"{key}[{i}]", x, lo, hi, integer)
    if v[0] > v[1] or (strict and v[0] == v[1]):
        raise ConfigError(f"config key '{key}' must be [min, max] with min {'<' if strict else '<='} max, got {v}")


def weights(key: str, p, known: set[str] | None = None) -> None:
    """``p`` maps choices (strings; from ``known`` when given) to weights >= 0, some > 0."""
    if not isinstance(p, dict) or not p:
        raise ConfigError(f"config key '{key}' must map choices to weights, got {p!r}")
    for k, v in p.items():
        if not isinstance(k, str):
            raise ConfigError(f"{key}: choice {k!r} must be a string (quote it in YAML)")
        if known is not None and k not in known:
            raise ConfigError(f"{key}: unknown choice '{k}' (known: {', '.join(sorted(known))})")
        number(f"{key}.{k}", v, 0)
    total = sum(p.values())
    if not 0 < total < math.inf:
        raise ConfigError(f"{key} must give some choice a positive (finite) weight, got {p}")


def choice(key: str, v, choices: tuple[str, ...]) -> None:
    """``v`` must be one of ``choices``."""
    if not isinstance(v, str) or v not in choices:
        options = f"{', '.join(choices[:-1])} or {choices[-1]}" if len(choices) > 1 else choices[0]
        raise ConfigError(f"{key} must be {options}, got {v!r}")


def strings(key: str, v, nonempty: bool = False, what: str = "strings") -> None:
    """``v`` must be a list of strings (with at least one when ``nonempty``)."""
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v) or (nonempty and not v):
        raise ConfigError(f"config key '{key}' must be a list of {'one or more ' if nonempty else ''}"
                          f"{what}, got {v!r}")


def _check(cfg: dict) -> None:
    """Every key's type and range (the schema above), then the rules between keys, before any
    work starts; the message names the key."""
    validate(SynthConfig, cfg)
    w, h = cfg["canvas"]["width"], cfg["canvas"]["height"]
    if cfg["canvas"]["sizes"]:
        weights("canvas.sizes", cfg["canvas"]["sizes"])
        for size in cfg["canvas"]["sizes"]:
            m = re.fullmatch(r"(\d+)x(\d+)", size)
            if not m or not all(16 <= int(v) <= 2048 for v in m.groups()):
                raise ConfigError(f"canvas.sizes: {size!r} is not WIDTHxHEIGHT with sides 16..2048")
    if cfg["background"]["mode_probs"]:
        weights("background.mode_probs", cfg["background"]["mode_probs"], set(BACKGROUND_MODES))
    t = cfg["text"]
    for lang in t["corpora"]:
        if lang not in ("en", "zh"):
            raise ConfigError(f"text.corpora: unknown language '{lang}' (known: en, zh)")
    weights("text.lang_probs", t["lang_probs"], {"en", "zh", "mixed"})
    if t["sample_lang_probs"] is not None:
        weights("text.sample_lang_probs", t["sample_lang_probs"], {"en", "zh", "mixed"})
    sz = cfg["size"]
    if not sz["buckets"]:
        raise ConfigError("size.buckets must map bucket names to [min_px, max_px]")
    for b in sz["bucket_probs"]:
        if b not in sz["buckets"]:
            raise ConfigError(f"size.bucket_probs names bucket '{b}' missing from size.buckets")
    weights("size.bucket_probs", sz["bucket_probs"])
    lay = cfg["layout"]
    from textsynth.synthesis.layouts import TEMPLATES

    weights("layout.template_probs", lay["template_probs"], set(TEMPLATES))
    weights("layout.mode_probs", lay["mode_probs"], {"lines", "paragraph"})
    weights("layout.align_probs", lay["align_probs"], {"left", "center", "right"})
    number("layout.margin", lay["margin"], 0, (min(w, h) - 20) // 2, integer=True)
    from textsynth.synthesis.geometry import KINDS

    weights("geometry.kind_probs", cfg["geometry"]["kind_probs"], set(KINDS))
    from textsynth.synthesis.degrade import STEPS

    for step in cfg["degrade"]["step_probs"]:
        if step not in STEPS:
            raise ConfigError(f"degrade.step_probs: unknown step '{step}' (known: {', '.join(STEPS)})")


class _NoAliasLoader(yaml.SafeLoader):
    """YAML's safe loader without aliases (``*name``): an alias can make a cyclic config, or
    one that expands exponentially when walked ("billion laughs")."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed here",
                                              self.peek_event().start_mark)
        return super().compose_node(parent, index)


# Files are refused above these sizes before they are parsed (a pipe or a device has no size,
# so no more than this is read): configs are a few KB and YAML parses at about 1 MB/s; parsed
# JSON takes several times its size in memory.
MAX_CONFIG_BYTES = 1 << 20
MAX_JSON_BYTES = 256 << 20


class TooLarge(ValueError):
    pass


def read_capped(path: Path, max_bytes: int) -> str:
    """A UTF-8 text file's content; TooLarge when it is over ``max_bytes``."""
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise TooLarge(f"{path} is over {max_bytes} bytes")
    return data.decode("utf-8")


def load_yaml(text: str):
    """``yaml.safe_load`` without aliases."""
    return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 (a SafeLoader subclass)


def read_yaml(path: Path) -> dict:
    """A YAML config file's top-level mapping, or a ConfigError naming the file. A path that
    doesn't exist here but names a config shipped with textsynth reads that one."""
    path = paths.config_path(path)
    try:
        data = load_yaml(read_capped(path, MAX_CONFIG_BYTES)) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as e:   # RecursionError: nested too deep
        raise ConfigError(f"config file {path} is not valid YAML: {e}") from None
    except TooLarge as e:
        raise ConfigError(f"config file {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must be a mapping at top level")
    return data


def read_json(path: Path, what: str):
    """A JSON file's content, or FileNotFoundError / ValueError naming ``what`` and the file.
    Strict: NaN and infinities (python's json reads ``NaN``, ``Infinity``, ``1e999``) are
    refused, naming the key that holds one."""
    path = Path(path)
    try:
        doc = json.loads(read_capped(path, MAX_JSON_BYTES))
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} not found: {path}") from None
    except TooLarge as e:
        raise ValueError(f"{what} {e}") from None
    except (ValueError, RecursionError) as e:       # bad UTF-8, bad JSON, nested too deep
        raise ValueError(f"{path}: not a JSON file ({e})") from None
    if bad := nonfinite(doc, ""):
        raise ValueError(f"{path}: {repr(bad[0]) if bad[0] else 'the value'} must be a finite number, got {bad[1]}")
    return doc


def background_modes(cfg: dict) -> dict[str, float]:
    """The background modes a config draws from, ``mode -> weight`` (one mode: no draw)."""
    probs = cfg["background"]["mode_probs"]
    return {k: v for k, v in probs.items() if v > 0} if probs else {cfg["background"]["mode"]: 1.0}


def lang_weights(cfg: dict) -> tuple[str, dict[str, float]]:
    """The key block languages are drawn by, and its weights: ``text.sample_lang_probs`` (one
    language per sample) when set, else ``text.lang_probs`` (one per block)."""
    t = cfg["text"]
    if t["sample_lang_probs"]:
        return "text.sample_lang_probs", t["sample_lang_probs"]
    return "text.lang_probs", t["lang_probs"]


def canvas_sizes(cfg: dict) -> dict[tuple[int, int], float]:
    """The canvas sizes a config draws from, ``(width, height) -> weight``."""
    sizes = cfg["canvas"]["sizes"]
    if not sizes:
        return {(cfg["canvas"]["width"], cfg["canvas"]["height"]): 1.0}
    return {tuple(int(v) for v in k.split("x")): w for k, w in sizes.items() if w > 0}


def load_config(path: str | Path | None = None, command_defaults: dict | None = None, **overrides) -> dict:
    """Defaults (with a command's own ``command_defaults`` over them), then the YAML file (the
    bundled English/Chinese config if None), then overrides."""
    data = read_yaml(Path(path) if path else DEFAULT_CONFIG)
    cfg = merge(merge(DEFAULTS, command_defaults or {}), data)
    cfg = merge(cfg, {k: v for k, v in overrides.items() if v is not None})
    _check(cfg)
    return cfg


def parse_sets(sets: list[str] | None) -> dict:
    """``["data.batch_size=16", "data.sources.synth.paths=[out/synth]"]`` -> a nested dict;
    each value is read as YAML (numbers, lists, true/false, null)."""
    out: dict = {}
    for item in sets or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set needs KEY=VALUE (e.g. data.batch_size=16), got {item!r}")
        try:
            parsed = load_yaml(value) if value.strip() else None
        except (yaml.YAMLError, RecursionError) as e:
            raise ConfigError(f"--set {key}: value is not valid YAML: {e}") from None
        node = out
        *parents, leaf = key.strip().split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {key}: {p} is set twice")
        node[leaf] = parsed
    return out
