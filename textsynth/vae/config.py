"""Trainer config: plain data, defaults here, a YAML file changes what it names.

Unknown keys and wrong types are a :class:`ConfigError` naming the key (the same rules as
the synthesis config, textsynth/config.py). ``data.sources`` and ``data.stages`` are the
user's own names and lists and are checked here instead.

A source path is a job output dir (``OUT/shards/*.tar``), a dir of ``.tar`` shards, one
``.tar``, or a folder of images (searched recursively); ``assets:backgrounds`` (or
``assets:documents``...) names a folder of the asset cache, e.g. the ci profile's photos.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

from textsynth import paths
from textsynth.config import (SEED_MAX, ConfigError, choice, merge, number, pair, parse_sets,  # noqa: F401 (parse_sets re-exported)
                              read_yaml, strings)

DEFAULTS: dict = {
    "seed": 0,
    "model": {
        "name": "f16c64",           # f16c64 | f16c128 | f32c128 | f32c192 | tiny
        "gsc": True,
        "grad_checkpointing": False,
        # optional overrides of the preset (null = the preset's value)
        "latent_channels": None, "d_enc": None, "d_dec": None,
        "enc_mult": None, "dec_mult": None, "enc_blocks": None, "dec_blocks": None,
    },
    "loss": {
        "l1": 1.0,
        "lpips": {"weight": 0.1, "net": "auto"},      # net: auto | random | DIR (vgg16*.pth + vgg.pth)
        "align": {
            "weight": 0.5,
            "model": "facebook/dinov2-large",          # DIR | hub name | random-tiny
            "layer": 12,                               # hidden layer (1-based; 24 in ViT-L)
            "resolution": 224,                         # teacher input side (multiple of 14)
            "m_cos": [0.1, 0.5],                       # strict -> loose
            "m_dist": [0.05, 0.25],
            "margin_steps": [0, 100000],               # schedule range (absolute steps)
            "margin_shape": "cosine",                  # cosine | linear
            "max_positions": 4096,                     # subsample positions for L_mdms
        },
    },
    "data": {
        "resolution": 256,
        "batch_size": 8,               # per worker (GPU)
        "num_workers": 4,              # loader processes per worker
        "shuffle_buffer": 500,         # samples per source
        "general_share": None,         # e.g. 0.5: general:text = 50:50 in every mixed stage
        "resume": "exact",             # exact: skip consumed samples | reseed: fresh order
        "sources": None,               # name -> {paths, role, crop_scale}
        "stages": [],                  # [{name, start, mix, size_buckets, bucket_sources, resolution}]
    },
    "train": {
        "max_steps": 100000,
        "lr": 1e-4,
        "min_lr": 1e-5,
        "warmup_steps": 1000,
        "weight_decay": 0.01,
        "betas": [0.9, 0.99],
        "grad_clip": 1.0,
        "ema": 0.0,                    # EMA decay, 0 = off
        "bf16": True,                  # autocast on CUDA (on CPU too with cpu_bf16)
        "log_every": 10,
        "sample_every": 1000,          # reconstruction grid PNG
        "ckpt_every": 1000,
        "snapshot_every": 0,           # weights-only snapshots/step_N.pt for curves (0 = off)
        "keep_checkpoints": 3,
        "workers": 1,                  # >1: Ray Train TorchTrainer (DDP)
        "max_failures": 3,             # Ray Train: restarts after a lost worker, each from the last checkpoint
        "cpu_threads": 0,              # torch threads per worker on CPU (0 = torch's default)
        # step speed (BENCHMARKS.md "VAE trainer"): channels-last convs (same numbers up to
        # float rounding), torch.compile of the VAE (worth it only for long runs: it compiles
        # for minutes first), bf16 autocast on CPU too (changes the numerics: opt-in)
        "channels_last": True,
        "compile": False,
        "cpu_bf16": False,
    },
}

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


def _check_model(m: dict) -> None:
    """Types and sizes of the preset overrides (the preset's own rules follow in model_config)."""
    for key in ("latent_channels", "d_enc", "d_dec"):
        if m[key] is not None:
            number(f"model.{key}", m[key], 1, 4096, integer=True)
    for key in ("enc_mult", "dec_mult", "enc_blocks", "dec_blocks"):
        v = m[key]
        if v is None:
            continue
        if not isinstance(v, list) or not 1 <= len(v) <= 8:
            raise ConfigError(f"config key 'model.{key}' must be a list of 1 to 8 integers (one per level), got {v!r}")
        for i, x in enumerate(v):
            number(f"model.{key}[{i}]", x, 1, 64, integer=True)


def _check(cfg: dict) -> None:
    """Every value type- and range-checked before any work starts, naming the key."""
    from textsynth.vae.model import PRESETS, model_config

    number("seed", cfg["seed"], 0, SEED_MAX, integer=True)
    m = cfg["model"]
    if m["name"] not in PRESETS:
        raise ConfigError(f"config key 'model.name': unknown model {m['name']!r} (known: {', '.join(PRESETS)})")
    _check_model(m)
    try:
        model_config(m["name"], **{k: v for k, v in m.items() if k != "name"})
    except ValueError as e:
        raise ConfigError(f"model: {e}") from None
    t, d, lo = cfg["train"], cfg["data"], cfg["loss"]
    for key in ("max_steps", "log_every", "sample_every", "ckpt_every", "snapshot_every", "workers"):
        number(f"train.{key}", t[key], 0 if key in ("sample_every", "snapshot_every") else 1, integer=True)
    number("train.warmup_steps", t["warmup_steps"], 0, integer=True)
    number("train.lr", t["lr"], 0, 1, above=True)
    number("train.min_lr", t["min_lr"], 0, 1)
    number("train.weight_decay", t["weight_decay"], 0, 1)
    if not isinstance(t["betas"], list) or len(t["betas"]) != 2:
        raise ConfigError(f"config key 'train.betas' must be [beta1, beta2], got {t['betas']!r}")
    for i, beta in enumerate(t["betas"]):
        number(f"train.betas[{i}]", beta, 0, 1, below=True)
    number("train.grad_clip", t["grad_clip"], 0, above=True)
    number("train.ema", t["ema"], 0, 1, below=True)
    number("train.keep_checkpoints", t["keep_checkpoints"], 1, integer=True)
    number("train.max_failures", t["max_failures"], 0, 1000, integer=True)
    number("train.cpu_threads", t["cpu_threads"], 0, 1024, integer=True)
    number("loss.l1", lo["l1"], 0)
    number("loss.lpips.weight", lo["lpips"]["weight"], 0)
    a = lo["align"]
    number("loss.align.weight", a["weight"], 0)
    number("loss.align.layer", a["layer"], 1, 1000, integer=True)
    number("loss.align.resolution", a["resolution"], 14, 4096, integer=True)
    for key in ("m_cos", "m_dist"):         # cosine margins: cos lies in [-1, 1]
        v = a[key]
        if not isinstance(v, list) or len(v) != 2:
            raise ConfigError(f"loss.align.{key} must be [start, end], got {v!r}")
        for i, x in enumerate(v):
            number(f"loss.align.{key}[{i}]", x, 0, 2)
    pair("loss.align.margin_steps", a["margin_steps"], 0, integer=True)
    choice("loss.align.margin_shape", a["margin_shape"], ("cosine", "linear"))
    number("loss.align.max_positions", a["max_positions"], 0, integer=True)
    number("data.resolution", d["resolution"], 8, 8192, integer=True)
    number("data.batch_size", d["batch_size"], 1, 65536, integer=True)
    number("data.num_workers", d["num_workers"], 0, 256, integer=True)
    number("data.shuffle_buffer", d["shuffle_buffer"], 0, 10_000_000, integer=True)
    choice("data.resume", d["resume"], ("exact", "reseed"))
    if d["general_share"] is not None:
        number("data.general_share", d["general_share"], 0, 1)
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
