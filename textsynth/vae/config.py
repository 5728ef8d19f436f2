"""Trainer config: plain data, defaults here, a YAML file changes what it names.

Every key is declared once below (:class:`TrainConfig`, the pattern of textsynth/schema.py):
unknown keys, wrong types and values out of range are a :class:`ConfigError` naming the key
(the same rules as the synthesis config, textsynth/config.py). ``data.sources`` and
``data.stages`` are the user's own names and lists and are checked here instead.

A source path is a job output dir (``OUT/shards/*.tar``), a dir of ``.tar`` shards, one
``.tar``, or a folder of images (searched recursively); ``assets:backgrounds`` (or
``assets:documents``...) names a folder of the asset cache, e.g. the ci profile's photos.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

from pydantic import Field
from typing_extensions import Annotated

from textsynth import paths
from textsynth.config import SEED_MAX, ConfigError, choice, merge, number, pair, read_yaml, strings
from textsynth.schema import Literal, Range, Section, defaults, setting, validate

# an optional override of the model preset (null = the preset's value)
Width = Annotated[int, Field(ge=1, le=4096)] | None
Levels = Annotated[list[Annotated[int, Field(ge=1, le=64)]], Field(min_length=1, max_length=8)] | None
Margins = Annotated[list[Annotated[float, Field(ge=0, le=2)]], Field(min_length=2, max_length=2)]


class ModelSection(Section):
    name: str = setting("f16c64", "the preset: f16c64 | f16c128 | f32c128 | f32c192 | tiny "
                        "(textsynth/vae/model.py)")
    gsc: bool = setting(True, "the image-carrying shortcut (gsc) around the learned layers")
    grad_checkpointing: bool = setting(False, "recompute activations in the backward pass (less memory, slower)")
    latent_channels: Width = setting(None, "override of the preset's latent channels (null = the preset's)")
    d_enc: Width = setting(None, "override of the preset's encoder width (null = the preset's)")
    d_dec: Width = setting(None, "override of the preset's decoder width (null = the preset's)")
    enc_mult: Levels = setting(None, "override: encoder width multiplier per level (null = the preset's)")
    dec_mult: Levels = setting(None, "override: decoder width multiplier per level (null = the preset's)")
    enc_blocks: Levels = setting(None, "override: encoder blocks per level (null = the preset's)")
    dec_blocks: Levels = setting(None, "override: decoder blocks per level (null = the preset's)")


class Lpips(Section):
    weight: float = setting(0.1, "weight of the LPIPS loss", 0)
    net: str = setting("auto", "auto | random | DIR (holding vgg16*.pth and vgg.pth)")


class Align(Section):
    weight: float = setting(0.5, "weight of the alignment loss to the teacher", 0)
    model: str = setting("facebook/dinov2-large", "the teacher: DIR | hub name | random-tiny")
    layer: int = setting(12, "the teacher's hidden layer (1-based; 24 in ViT-L)", 1, 1000)
    resolution: int = setting(224, "teacher input side (a multiple of 14)", 14, 4096)
    m_cos: Margins = setting([0.1, 0.5], "cosine margin [start, end], strict -> loose (cos lies in [-1, 1])")
    m_dist: Margins = setting([0.05, 0.25], "distance margin [start, end], strict -> loose")
    margin_steps: Range(0, integer=True) = setting([0, 100000], "the margin schedule's step range (absolute steps)")
    margin_shape: Literal["cosine", "linear"] = setting("cosine", "the margin schedule: cosine | linear")
    max_positions: int = setting(4096, "positions subsampled for L_mdms", 0)


class Loss(Section):
    l1: float = setting(1.0, "weight of the L1 reconstruction loss", 0)
    lpips: Lpips = setting(Lpips, "the perceptual (LPIPS) loss")
    align: Align = setting(Align, "alignment to a frozen teacher (DINOv2)")


class Data(Section):
    resolution: int = setting(256, "training crop side (px), a multiple of the model's f", 8, 8192)
    batch_size: int = setting(8, "samples per worker (GPU)", 1, 65536)
    num_workers: int = setting(4, "loader processes per worker", 0, 256)
    shuffle_buffer: int = setting(500, "shuffle buffer, samples per source", 0, 10_000_000)
    general_share: Annotated[float, Field(ge=0, le=1)] | None = setting(
        None, "e.g. 0.5: general:text = 50:50 in every mixed stage (null: the stage's mix)")
    resume: Literal["exact", "reseed"] = setting("exact", "exact: skip consumed samples | reseed: fresh order")
    sources: dict | None = setting(None, "name -> {paths, role, crop_scale}")
    stages: list = setting([], "[{name, start, mix, size_buckets, bucket_sources, resolution}]")


class Train(Section):
    max_steps: int = setting(100000, "optimizer steps", 1)
    lr: float = setting(1e-4, "peak learning rate", 0, 1, above=True)
    min_lr: float = setting(1e-5, "learning rate at the end of the schedule", 0, 1)
    warmup_steps: int = setting(1000, "linear warm-up steps", 0)
    weight_decay: float = setting(0.01, "AdamW weight decay", 0, 1)
    betas: Annotated[list[Annotated[float, Field(ge=0, lt=1)]], Field(min_length=2, max_length=2)] = setting(
        [0.9, 0.99], "AdamW [beta1, beta2]")
    grad_clip: float = setting(1.0, "gradient norm clip", 0, above=True)
    ema: float = setting(0.0, "EMA decay of the weights, 0 = off", 0, 1, below=True)
    bf16: bool = setting(True, "bf16 autocast on CUDA (on CPU too with cpu_bf16)")
    log_every: int = setting(10, "steps between log lines", 1)
    sample_every: int = setting(1000, "steps between reconstruction grid PNGs (0 = off)", 0)
    ckpt_every: int = setting(1000, "steps between checkpoints", 1)
    snapshot_every: int = setting(0, "steps between weights-only snapshots/step_N.pt for curves (0 = off)", 0)
    keep_checkpoints: int = setting(3, "checkpoints kept", 1)
    workers: int = setting(1, ">1: Ray Train TorchTrainer (DDP)", 1)
    max_failures: int = setting(3, "Ray Train: restarts after a lost worker, each from the last checkpoint", 0, 1000)
    cpu_threads: int = setting(0, "torch threads per worker on CPU (0 = torch's default)", 0, 1024)
    # step speed: BENCHMARKS.md "VAE trainer"
    channels_last: bool = setting(True, "channels-last convs (the same numbers up to float rounding)")
    compile: bool = setting(False, "torch.compile the VAE (worth it only for long runs: it compiles for minutes first)")
    cpu_bf16: bool = setting(False, "bf16 autocast on CPU too (changes the numerics: opt-in)")


class TrainConfig(Section):
    """The trainer config (`textsynth train`, pipelines/train_vae.py)."""

    seed: int = setting(0, "the run's seed", 0, SEED_MAX)
    model: ModelSection = setting(ModelSection, "the VAE: a preset and optional overrides")
    loss: Loss = setting(Loss, "the training objective")
    data: Data = setting(Data, "what the trainer reads: sources, stages, crops")
    train: Train = setting(Train, "the optimizer, schedule, checkpoints and workers")


DEFAULTS: dict = defaults(TrainConfig)

SOURCE_KEYS = {"paths": list, "role": str, "crop_scale": list}
STAGE_KEYS = {"name": str, "start": int, "mix": dict, "size_buckets": list,
              "bucket_sources": list, "resolution": int}
BUCKETS = ("5-8", "9-12", "13-16", "17-20")

DEFAULT_CONFIG = paths.packaged_config("vae_f16c64_text_infusion.yaml")


def _check_source(name: str, src) -> dict:
    where = f"data.sources.{name}"
    if not isinstance(src, dict):
        raise ConfigError(f"{where} must be a mapping with 'paths', got {src!r}")
    for k, v in src.items():
        if k not in SOURCE_KEYS:
            raise ConfigError(f"unknown config key '{where}.{k}' (known: {', '.join(SOURCE_KEYS)})")
        if not isinstance(v, SOURCE_KEYS[k]):
            raise ConfigError(f"config key '{where}.{k}' must be of type {SOURCE_KEYS[k].__name__}, got {v!r}")
    if not src.get("paths"):
        raise ConfigError(f"{where}.paths must list at least one path")
    strings(f"{where}.paths", src["paths"], nonempty=True)
    role = src.get("role", "general" if name == "general" else "text")
    choice(f"{where}.role", role, ("general", "text"))
    scale = src.get("crop_scale", [1.0, 4.0] if role == "general" else [1.0, 1.0])
    pair(f"{where}.crop_scale", scale, 0, 64)
    if scale[0] <= 0:
        raise ConfigError(f"{where}.crop_scale must be [lo, hi] with 0 < lo <= hi, got {scale}")
    return {"paths": [str(p) for p in src["paths"]], "role": role,
            "crop_scale": [float(s) for s in scale]}


def _check_stage(i: int, st, sources: dict) -> dict:
    where = f"data.stages[{i}]"
    if not isinstance(st, dict):
        raise ConfigError(f"{where} must be a mapping, got {st!r}")
    for k, v in st.items():
        if k not in STAGE_KEYS:
            raise ConfigError(f"unknown config key '{where}.{k}' (known: {', '.join(STAGE_KEYS)})")
        if k == "resolution" and v is None:
            continue                # null = data.resolution (as the run's config.yaml writes it)
        if not isinstance(v, STAGE_KEYS[k]) or isinstance(v, bool):
            raise ConfigError(f"config key '{where}.{k}' must be of type {STAGE_KEYS[k].__name__}, got {v!r}")
    for k in ("start", "mix"):
        if k not in st:
            raise ConfigError(f"{where}.{k} is required")
    number(f"{where}.start", st["start"], 0, integer=True)
    if st.get("resolution") is not None:
        number(f"{where}.resolution", st["resolution"], 8, 8192, integer=True)
    mix = st["mix"]
    for s, p in mix.items():
        if s not in sources:
            raise ConfigError(f"{where}.mix names source '{s}' missing from data.sources "
                              f"(known: {', '.join(sources) or 'none'})")
        number(f"{where}.mix.{s}", p, 0)
    if not 0 < sum(mix.values()) < math.inf:
        raise ConfigError(f"{where}.mix must give some source a positive probability")
    phases = []
    for j, ph in enumerate(st.get("size_buckets", [])):
        w = f"{where}.size_buckets[{j}]"
        if not isinstance(ph, dict) or set(ph) - {"start", "buckets"} or "buckets" not in ph:
            raise ConfigError(f"{w} must be {{start: STEP, buckets: [..]}}, got {ph!r}")
        if not isinstance(ph["buckets"], list) or not ph["buckets"] or any(b not in BUCKETS for b in ph["buckets"]):
            raise ConfigError(f"{w}.buckets must be a non-empty subset of {list(BUCKETS)}, got {ph['buckets']}")
        number(f"{w}.start", ph.get("start", st["start"]), 0, integer=True)
        phases.append({"start": ph.get("start", st["start"]), "buckets": list(ph["buckets"])})
    strings(f"{where}.bucket_sources", st.get("bucket_sources", []))
    for s in st.get("bucket_sources", []):
        if s not in sources:
            raise ConfigError(f"{where}.bucket_sources names unknown source '{s}'")
    return {"name": st.get("name", f"stage{i + 1}"), "start": st["start"], "mix": dict(mix),
            "size_buckets": phases, "bucket_sources": list(st.get("bucket_sources", ["synth"])),
            "resolution": st.get("resolution")}


def _check(cfg: dict) -> None:
    """Every key's type and range (the schema above), then the preset, the sources and stages
    and the rules between keys, before any work starts; the message names the key."""
    from textsynth.vae.model import PRESETS, model_config

    validate(TrainConfig, cfg)
    m = cfg["model"]
    if m["name"] not in PRESETS:
        raise ConfigError(f"config key 'model.name': unknown model {m['name']!r} (known: {', '.join(PRESETS)})")
    try:
        model_config(m["name"], **{k: v for k, v in m.items() if k != "name"})
    except ValueError as e:
        raise ConfigError(f"model: {e}") from None
    d = cfg["data"]
    if not isinstance(d["sources"], dict) or not d["sources"]:
        raise ConfigError("data.sources must name at least one source: {name: {paths: [...]}}")
    d["sources"] = {k: _check_source(k, v) for k, v in d["sources"].items()}
    if not isinstance(d["stages"], list) or not d["stages"]:
        raise ConfigError("data.stages must list at least one stage: [{start: 0, mix: {...}}]")
    d["stages"] = [_check_stage(i, s, d["sources"]) for i, s in enumerate(d["stages"])]
    starts = [s["start"] for s in d["stages"]]
    if starts[0] != 0 or starts != sorted(set(starts)):
        raise ConfigError(f"data.stages: starts must begin at 0 and increase, got {starts}")
    for i, st in enumerate(d["stages"]):
        end = starts[i + 1] if i + 1 < len(starts) else None
        ps = [p["start"] for p in st["size_buckets"]]
        if ps and (ps != sorted(set(ps)) or ps[0] < st["start"] or (end is not None and ps[-1] >= end)):
            raise ConfigError(f"data.stages[{i}].size_buckets starts must increase within the "
                              f"stage's steps [{st['start']}, {end if end is not None else 'end'}), got {ps}")
    f = model_config(m["name"], **{k: v for k, v in m.items() if k != "name"}).f
    for res in [d["resolution"]] + [s["resolution"] for s in d["stages"] if s["resolution"]]:
        if res % f or res < f:
            raise ConfigError(f"data.resolution {res} must be a positive multiple of the model's f={f}")


def load_train_config(path: str | Path | None = None, overrides: dict | None = None) -> dict:
    """Defaults, then the YAML file, then ``overrides`` (a nested dict), checked."""
    data = read_yaml(Path(path) if path else DEFAULT_CONFIG)
    cfg = merge(DEFAULTS, data)
    if overrides:
        cfg = merge(cfg, overrides)
    _check(cfg)
    return cfg


def checked(cfg: dict) -> dict:
    """A config dict (e.g. built in code) merged over the defaults and checked."""
    out = merge(DEFAULTS, copy.deepcopy(cfg))
    _check(out)
    return out
