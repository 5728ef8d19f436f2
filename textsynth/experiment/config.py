"""Experiment config: what data to make, which arms to train, how to evaluate them.

Declared once as a typed schema (:class:`ExperimentConfig`; textsynth/schema.py) and used as
plain data; a YAML file changes what it names (unknown keys, wrong types and values out of
range are a :class:`ConfigError` naming the key, as for every textsynth config). A file may
``extends: OTHER.yaml`` and change only what differs (e.g. the arms of one question). The
``train`` block is a trainer config (textsynth/vae/config.py) *shared by every arm*: model,
losses, resolution, batch size, steps and learning-rate schedule. An arm only says which
sources its stages mix, so arms differ in their data and nothing else. ``data.sources`` of
the trainer are filled in by the experiment (the training split of photos, the curate job's
shards, the synth job's shards).

With ``base.steps`` > 0 the general-domain stage every arm shares (the stages before that
step, which must be the same general-only stages in every arm) is trained once as the *base*
(textsynth/experiment/base.py) and every run forks from its checkpoint; the runs then differ
only in the data they see after the fork, and each arm runs once per seed of ``arms.NAME.seeds``
(the seed sets data order and sampling after the fork).
"""

from __future__ import annotations

import copy
import typing
from pathlib import Path
from typing import Any

from pydantic import Field
from typing_extensions import Annotated

from textsynth import paths
from textsynth.config import SEED_MAX, ConfigError, merge, read_yaml
from textsynth.evaluation.run import NED_MODES
from textsynth.schema import Literal, Section, defaults, free_form_keys, setting, validate

DEFAULT_CONFIG = paths.packaged_config("ablation_cpu.yaml")


class Assets(Section):
    profile: Literal["", "ci", "full"] = setting(
        "", "the asset profile the data stage requires: full (more PDFs for a bigger doc bench), "
        "ci, or \"\" (any)")


class Inputs(Section):
    photos: Annotated[list[str], Field(min_length=1)] = setting(
        ["assets:backgrounds"], "general-domain photos (folders)")
    documents: Annotated[list[str], Field(min_length=1)] = setting(
        ["assets:documents"], "PDFs and images (folders or files)")
    corpora: dict[str, list[str]] = setting({}, "{lang: [files]}, lang en or zh; default: the asset cache's")


class Split(Section):
    bench_fraction: float = setting(
        0.25, "the share held out for the benches, never seen in training: photos and documents "
        "by file, corpus lines by a hash of the cleaned line", 0, 1, above=True, below=True)
    bench_documents: list[str] = setting([], "document file names to hold out; [] = the hash split")
    salt: str = setting("textsynth-ablation-1", "salts the hash split (a new salt is a new split)")
    tune_fraction: float = setting(
        0.15, "with --rounds: photos and lines for the loop's tune bench, taken from training "
        "(the next slice of the hash range after the bench's)", 0, 1, below=True)


class SynthJob(Section):
    config: str = setting("pipelines/configs/synth_en_zh.yaml", "the synth config of the training text")
    set: dict[str, Any] = setting({}, "overrides of that config (nested mapping)")
    num_samples: int = setting(4000, "samples the job makes", 1)
    samples_per_shard: int = setting(500, "samples per shard", 1)
    variants: dict[str, Any] = setting(
        {}, "more synthetic sources for arms to compare, each the same job with more overrides: "
        "{NAME: {set: {...}}} over synth.set gives a source NAME that arms can mix like synth")


class CurateJob(Section):
    config: str = setting("pipelines/configs/curate_docs.yaml", "the curate config of the training documents")
    set: dict[str, Any] = setting({}, "overrides of that config (nested mapping)")


class DocBench(Section):
    max_pages: int = setting(0, "`textsynth bench build`: pages read per PDF (0 = all)", 0)
    max_candidates: int = setting(200, "crops kept per language (0 = all)", 0)
    min_block_chars: int = setting(60, "shortest text block kept (characters)", 0)
    min_samples: int = setting(0, "fewer kept crops is an error (0 = any)", 0)


class SynthBench(Section):
    num_samples: int = setting(80, "samples of the synth job on held-out text and photos", 1)
    set: dict[str, Any] = setting({}, "overrides of synth.config for this bench")
    min_per_bucket: int = setting(0, "fewer samples in a size bucket is an error (0 = any)", 0)


class GeneralBench(Section):
    crops_per_photo: int = setting(4, "crops per held-out photo (PSNR/SSIM)", 1, 1000)
    side: int = setting(256, "crop side (px)", 16, 8192)


class SceneBench(Section):
    config: str = setting("", "the synth config of a second synthetic bench (e.g. synth_real.yaml's "
                          "pages, scenes and turned text), on the same held-out photos and lines")
    num_samples: int = setting(0, "its samples; 0 = no scene bench", 0)
    set: dict[str, Any] = setting({}, "overrides of bench.scene.config")
    min_per_bucket: int = setting(0, "fewer samples in a size bucket is an error (0 = any)", 0)


class Bench(Section):
    doc: DocBench = setting(DocBench, "the document bench: crops of held-out documents")
    synth: SynthBench = setting(SynthBench, "the synthetic bench: a synth job on held-out text and photos")
    general: GeneralBench = setting(GeneralBench, "the general bench: crops of held-out photos")
    scene: SceneBench = setting(SceneBench, "an optional second synthetic bench with its own synth config")


class Base(Section):
    steps: int = setting(0, "length of the shared general-domain stage, trained once; 0 = no base "
                         "(each run from step 0)", 0)
    seed: int = setting(0, "the base's init, data order and sampling", 0, SEED_MAX)
    cache_dir: str = setting("", "where bases are kept (base-KEY/ in it); \"\" = $TEXTSYNTH_HOME/experiments")


class Eval(Section):
    references: list[str] = setting(["identity", "bicubic-f8"], "evaluated like arms, as anchors")
    ned: Literal["page", "lines"] = setting(
        "lines", "bench NED mode of `textsynth eval --ned`: lines (boxes fixed on the original, "
        "recognition only: less noise, ~1.5x faster) or page (report eq. 5)")
    curve_every: int = setting(0, "steps between bench-NED snapshots (0 = off)", 0)
    curve_images: int = setting(16, "synth-bench images (13-20 px) per snapshot", 1, 1000)
    grid_images: int = setting(4, "bench images in recon_grid.png", 1, 1000)


class Mix(Section):
    rate: float = setting(4.0, "`textsynth mix suggest`'s rate", 0, 100, above=True)
    step: float = setting(0.10, "`textsynth mix suggest`'s step", 0, 1, above=True)
    floor: float = setting(0.05, "`textsynth mix suggest`'s floor", 0, 1, above=True, below=True)


class Rounds(Section):
    count: int = setting(0, "N: evaluate -> suggest -> regenerate, N times; 0 = off", 0, 100)
    arm: str = setting("", "the arm it steers (\"\" = the last arm that uses synth); that arm, "
                       "unsteered, is the control")
    at: list[Annotated[int, Field(ge=0)]] = setting(
        [], "steps where rounds 1..N begin; [] = evenly spaced over the arm's synthetic stage")
    tune_samples: int = setting(96, "the tune bench: a synth job on the tune split", 1)
    mix: Mix = setting(Mix, "`textsynth mix suggest`'s rule")


class Quick(Section):
    max_steps: int = setting(0, "train.train.max_steps with --quick; 0 = a tenth of it", 0)
    seeds: int = setting(0, "N > 0: each arm runs with its first N seeds only", 0, 100)
    set: dict[str, Any] = setting({}, "any other overrides of this config")


class ExperimentConfig(Section):
    """The experiment config (`textsynth experiment`): the data to make, the arms to train on
    it with one shared trainer config, and how to evaluate them."""

    seed: int = setting(0, "the experiment's seed: each arm's first seed unless arms.NAME.seeds", 0, SEED_MAX)
    assets: Assets = setting(Assets, "the asset profile the data stage needs")
    inputs: Inputs = setting(Inputs, "photos, documents and corpora the experiment splits")
    split: Split = setting(Split, "what is held out for the benches (and the loop's tune bench)")
    synth: SynthJob = setting(SynthJob, "the training text: a `textsynth synth` job")
    curate: CurateJob = setting(CurateJob, "the training documents: a `textsynth curate` job")
    bench: Bench = setting(Bench, "the benches made from held-out data")
    train: dict[str, Any] = setting({}, "trainer config shared by all arms (textsynth/vae/config.py)")
    base: Base = setting(Base, "the shared general-domain stage, trained once (textsynth/experiment/base.py)")
    arms: dict[str, Any] = setting({}, "name -> {stages: [...], general_share, seeds, description}")
    control: str = setting("", "the arm the others are compared with (\"\" = the first)")
    eval: Eval = setting(Eval, "how runs are evaluated")
    rounds: Rounds = setting(Rounds, "the closed loop (--rounds N, textsynth/experiment/loop.py)")
    quick: Quick = setting(Quick, "what --quick changes (same pipeline, smaller)")


assert typing.get_args(Eval.model_fields["ned"].annotation) == NED_MODES, "eval.ned: update to NED_MODES"

DEFAULTS: dict = defaults(ExperimentConfig)
# Mappings whose keys are the user's choice (languages, overrides, arms), replaced whole.
FREE_FORM = free_form_keys(ExperimentConfig)
BUILTIN_SOURCES = ("general", "doc", "synth")
ARM_KEYS = {"stages": list, "general_share": (int, float, type(None)), "seeds": list,
            "description": str}
# Trainer settings every arm must share: the budget and the schedule of the comparison.
BUDGET_KEYS = [("train", "max_steps"), ("data", "batch_size"), ("data", "resolution"),
               ("train", "lr"), ("train", "min_lr"), ("train", "warmup_steps")]


def arm_runs(cfg: dict) -> list[tuple[str, str, int]]:
    """``(run name, arm, seed)`` for every training run: one per arm and seed; the first
    seed is the config's, extra seeds give the spread (run name ``ARM-sN``). With the closed
    loop, its run ``ARM_loop`` (the steered arm's first seed) comes last."""
    runs = []
    for arm, spec in cfg["arms"].items():
        for i, s in enumerate(spec["seeds"]):
            runs.append((arm if i == 0 else f"{arm}-s{s}", arm, s))
    plan = loop_plan(cfg)
    if plan:
        runs.append((plan["loop"], plan["arm"], cfg["arms"][plan["arm"]]["seeds"][0]))
    return runs


def loop_plan(cfg: dict) -> dict | None:
    """The closed loop's plan, or None without ``rounds.count``: the steered arm, its control
    run (the arm's first seed, trained without steering), the loop run's name and the steps
    where rounds 1..N begin (a ConfigError names what is wrong)."""
    r = cfg["rounds"]
    if not r["count"]:
        return None
    with_synth = [a for a, spec in cfg["arms"].items() if "synth" in _mixed_sources(spec)]
    arm = r["arm"] or (with_synth[-1] if with_synth else "")
    if arm not in with_synth:
        raise ConfigError(f"rounds.arm {arm!r}: the loop steers the synthetic source, so it needs an "
                          f"arm whose stages mix synth (arms with synth: {with_synth or 'none'})")
    start = min(st["start"] for st in cfg["arms"][arm]["stages"] if "synth" in st.get("mix", {}))
    end = int(cfg["train"].get("train", {}).get("max_steps", 0))
    n = r["count"]
    at = list(r["at"]) or [start + round(k * (end - start) / (n + 1)) for k in range(1, n + 1)]
    if len(at) != n or at != sorted(set(at)) or at[0] <= start or at[-1] >= end:
        raise ConfigError(f"rounds.at {at}: need {n} increasing steps after the synthetic stage's "
                          f"start ({start}) and before train.max_steps ({end})")
    loop = f"{arm}_loop"
    if loop in cfg["arms"]:
        raise ConfigError(f"arm name {loop!r} is taken by the closed loop's run; rename that arm")
    return {"arm": arm, "control": arm, "loop": loop, "at": at, "end": end}


def control_arm(cfg: dict) -> str:
    """The arm every other arm is compared with: ``control``, else the first arm."""
    return cfg["control"] or next(iter(cfg["arms"]))


def base_stages(cfg: dict) -> list[dict]:
    """The stages the base trains (those starting before ``base.steps``): the same general-only
    stages in every arm, so forking from one base changes nothing an arm would have seen; []
    without a base. A ConfigError names the arm that differs."""
    steps = cfg["base"]["steps"]
    if not steps:
        return []
    end = int(cfg["train"].get("train", {}).get("max_steps", 0))
    if steps >= end:
        raise ConfigError(f"base.steps {steps} must be below train.train.max_steps ({end}): the arms "
                          "need steps after the fork")
    strip = lambda st: {k: v for k, v in st.items() if k != "name"}  # noqa: E731
    first, ref = None, None
    for name, spec in cfg["arms"].items():
        before = [st for st in spec["stages"] if st["start"] < steps]
        if not before or before[0]["start"] != 0:
            raise ConfigError(f"arms.{name}: the base's steps [0, {steps}) need a stage at start 0")
        for st in before:
            if set(st["mix"]) != {"general"}:
                raise ConfigError(f"arms.{name}: stage at start {st['start']} mixes {sorted(st['mix'])} "
                                  f"before base.steps ({steps}); the base trains the general source only")
        if ref is None:
            first, ref = name, before
        elif [strip(s) for s in before] != [strip(s) for s in ref]:
            raise ConfigError(f"arms.{name}: its stages before base.steps ({steps}) differ from arm "
                              f"'{first}''s; every arm forks from the same base")
    return copy.deepcopy(ref)


def base_trainer_config(cfg: dict, general: dict) -> dict:
    """The base's trainer config: the shared ``train`` block, the base's general-only stages
    and seed, the general source ``general`` (``{"paths": [...], "role": "general"}``)."""
    from textsynth.vae.config import checked

    t = copy.deepcopy(cfg["train"])
    t["seed"] = cfg["base"]["seed"]
    d = t.setdefault("data", {})
    d["stages"] = base_stages(cfg)
    d["sources"] = {"general": copy.deepcopy(general)}
    try:
        return checked(t)
    except ConfigError as e:
        raise ConfigError(f"base: {e}") from None


def _mixed_sources(spec: dict) -> set:
    """The sources an arm's stages mix."""
    return {s for st in spec["stages"] for s in st["mix"]}


def synth_variants(cfg: dict) -> list[str]:
    """The names of ``synth.variants`` (checked: each is a new source name with a ``set``)."""
    variants = cfg["synth"]["variants"]
    if not isinstance(variants, dict):
        raise ConfigError(f"synth.variants must be a mapping {{NAME: {{set: {{...}}}}}}, got {variants!r}")
    for name, spec in variants.items():
        if not isinstance(name, str) or not name.replace("_", "").isalnum() or name in BUILTIN_SOURCES:
            raise ConfigError(f"synth.variants: {name!r} must be a new source name (letters, digits, _; "
                              f"not {', '.join(BUILTIN_SOURCES)})")
        if not isinstance(spec, dict) or set(spec) != {"set"} or not isinstance(spec["set"], dict):
            raise ConfigError(f"synth.variants.{name} must be {{set: {{...}}}} (overrides over synth.set), "
                              f"got {spec!r}")
    return list(variants)


def variant_set(cfg: dict, name: str) -> dict:
    """The synth overrides of variant ``name``: synth.set, then the variant's own set."""
    return _deep_update(copy.deepcopy(cfg["synth"]["set"]), cfg["synth"]["variants"][name]["set"])


def _deep_update(base: dict, over: dict) -> dict:
    for k, v in over.items():
        nested = isinstance(v, dict) and isinstance(base.get(k), dict)
        base[k] = _deep_update(base[k], v) if nested else copy.deepcopy(v)
    return base


def trainer_config(cfg: dict, arm: str, seed: int, sources: dict) -> dict:
    """The full trainer config of one run: the shared ``train`` block, the arm's stages and
    general share, the experiment's data sources, checked by the trainer's own rules."""
    from textsynth.vae.config import checked

    spec = cfg["arms"][arm]
    t = copy.deepcopy(cfg["train"])
    t["seed"] = seed
    d = t.setdefault("data", {})
    d["stages"] = copy.deepcopy(spec["stages"])
    if "general_share" in spec:
        d["general_share"] = spec["general_share"]
    used = _mixed_sources(spec)
    d["sources"] = {k: v for k, v in sources.items() if k in used}
    try:
        return checked(t)
    except ConfigError as e:
        raise ConfigError(f"arm '{arm}': {e}") from None


def _check_values(cfg: dict) -> None:
    """The keys the schema cannot check alone: corpus languages, the scene bench's config, the
    synth and curate configs with their overrides (as the experiment's jobs will load them)."""
    from textsynth.config import load_config
    from textsynth.curation.config import load_curate_config

    for lang in cfg["inputs"]["corpora"]:
        if lang not in ("en", "zh"):
            raise ConfigError(f"inputs.corpora: unknown language {lang!r} (known: en, zh)")
    scene = cfg["bench"]["scene"]
    if scene["num_samples"] and not scene["config"]:
        raise ConfigError("bench.scene.config must name the synth config of the scene bench (e.g. "
                          f"pipelines/configs/synth_real.yaml) when bench.scene.num_samples > 0, got "
                          f"{scene['config']!r}")
    jobs = [("synth", cfg["synth"]["set"]), ("bench.synth", cfg["bench"]["synth"]["set"])]
    for name in synth_variants(cfg):
        jobs.append((f"synth.variants.{name}", variant_set(cfg, name)))
    for where, over in jobs:
        try:
            load_config(paths.config_path(cfg["synth"]["config"]), **over)
        except ConfigError as e:
            raise ConfigError(f"{where}.set over synth.config: {e}") from None
    if scene["num_samples"]:
        try:
            load_config(paths.config_path(scene["config"]), **scene["set"])
        except ConfigError as e:
            raise ConfigError(f"bench.scene.set over bench.scene.config: {e}") from None
    try:
        load_curate_config(paths.config_path(cfg["curate"]["config"]), **cfg["curate"]["set"])
    except ConfigError as e:
        raise ConfigError(f"curate.set over curate.config: {e}") from None


def _check(cfg: dict) -> None:
    """Every key's type and range (the schema above; ``quick_mode`` records how the config was
    loaded), then the rules between keys, before any work starts; the message names the key."""
    validate(ExperimentConfig, {k: v for k, v in cfg.items() if k != "quick_mode"})
    _check_values(cfg)
    if not cfg["arms"]:
        raise ConfigError("arms must name at least one arm: {NAME: {stages: [...]}}")
    if not isinstance(cfg["train"].get("data", {}), dict):
        raise ConfigError("train must be a trainer config mapping (see textsynth/vae/config.py)")
    for banned in ("sources", "stages", "general_share"):
        if banned in cfg["train"].get("data", {}):
            raise ConfigError(f"train.data.{banned} is set per arm (arms.NAME), not in train")
    if "seed" in cfg["train"]:
        raise ConfigError("train.seed: the experiment's seed (and arms.NAME.seeds) decide it")
    for name, spec in cfg["arms"].items():
        if not name.replace("_", "").isalnum():
            raise ConfigError(f"arm name {name!r}: letters, digits and _ only")
        if not isinstance(spec, dict):
            raise ConfigError(f"arms.{name} must be a mapping with stages, got {spec!r}")
        for k, v in spec.items():
            if k in ("train", "data", "max_steps"):
                raise ConfigError(f"arms.{name}.{k}: arms differ in their data only; the step and "
                                  "image budget and the schedule come from the shared train block")
            if k not in ARM_KEYS:
                raise ConfigError(f"unknown config key 'arms.{name}.{k}' (known: {', '.join(ARM_KEYS)})")
            if not isinstance(v, ARM_KEYS[k]) or isinstance(v, bool):
                raise ConfigError(f"config key 'arms.{name}.{k}' has the wrong type: {v!r}")
        if not spec.get("stages"):
            raise ConfigError(f"arms.{name}.stages must list at least one stage")
        for i, st in enumerate(spec["stages"]):   # the trainer checks the rest of a stage
            if not isinstance(st, dict) or not isinstance(st.get("mix"), dict):
                raise ConfigError(f"arms.{name}.stages[{i}] must be a mapping with a mix "
                                  f"{{SOURCE: weight}}, got {st!r}")
        seeds = spec.setdefault("seeds", [cfg["seed"]])
        if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= SEED_MAX
                            for s in seeds) or len(set(seeds)) != len(seeds):
            raise ConfigError(f"arms.{name}.seeds must be distinct integers in [0, 2^63), got {seeds}")
    # Every arm's trainer config must be valid, and the budget must be the same for all.
    placeholder = {"general": {"paths": ["."], "role": "general"}, "doc": {"paths": ["."]},
                   "synth": {"paths": ["."]}, **{v: {"paths": ["."]} for v in synth_variants(cfg)}}
    budgets, schedules = {}, {}
    for name, spec in cfg["arms"].items():
        unknown = _mixed_sources(spec) - set(placeholder)
        if unknown:
            raise ConfigError(f"arms.{name}: unknown sources {sorted(unknown)} (the experiment "
                              f"provides {', '.join(placeholder)}; more synthetic ones: synth.variants)")
        t = trainer_config(cfg, name, spec["seeds"][0], placeholder)
        budgets[name] = {f"{a}.{b}": t[a][b] for a, b in BUDGET_KEYS}
        schedules[name] = [(st["start"], st["resolution"] or t["data"]["resolution"])
                           for st in t["data"]["stages"]]
    first, ref = next(iter(budgets.items()))
    for name, b in budgets.items():
        for k, v in b.items():
            if v != ref[k]:
                raise ConfigError(f"arm '{name}' differs in step/image budget or schedule: {k} = {v} "
                                  f"but arm '{first}' has {ref[k]}; arms must share them")
    # Pixels per step too: the training resolution at every step must agree.
    res_at = lambda sch, step: [r for s, r in sch if s <= step][-1]  # noqa: E731
    steps = sorted({s for sch in schedules.values() for s, _ in sch})
    for name, sch in schedules.items():
        for step in steps:
            if res_at(sch, step) != res_at(schedules[first], step):
                raise ConfigError(f"arm '{name}' trains at {res_at(sch, step)} px at step {step} but "
                                  f"arm '{first}' at {res_at(schedules[first], step)} px; arms must "
                                  "share the image budget")
    frac, tune = cfg["split"]["bench_fraction"], cfg["split"]["tune_fraction"]
    if cfg["rounds"]["count"] and not (0 < tune and frac + tune < 1):
        raise ConfigError(f"split.tune_fraction must be > 0 with rounds, and bench_fraction + "
                          f"tune_fraction < 1; got {frac} + {tune}")
    if cfg["control"] and cfg["control"] not in cfg["arms"]:
        raise ConfigError(f"control {cfg['control']!r} is not an arm (arms: {', '.join(cfg['arms'])})")
    base_stages(cfg)
    loop_plan(cfg)
    for spec in cfg["eval"]["references"]:
        from textsynth.evaluation.references import load

        try:
            load(spec)
        except ValueError as e:
            raise ConfigError(f"eval.references: {e}") from None


def load_experiment_config(path: str | Path | None = None, quick: bool = False,
                           overrides: dict | None = None) -> dict:
    """Defaults, then the YAML file, then (with ``quick``) its ``quick`` block, then
    ``overrides``; checked. ``--quick`` runs the same pipeline with fewer steps."""
    cfg = copy.deepcopy(DEFAULTS)
    for data in _chain(Path(path) if path else DEFAULT_CONFIG):
        cfg = merge(cfg, data, free_form=FREE_FORM)
    if quick:
        q = cfg["quick"]
        cfg = merge(cfg, q["set"], free_form=FREE_FORM)
        _check(cfg)           # the step counts that --quick scales must be numbers first
        t = cfg["train"].setdefault("train", {})
        steps = q["max_steps"] or max(1, int(t.get("max_steps", 100000)) // 10)
        _scale_steps(cfg, steps)
        if q["seeds"]:
            for spec in cfg["arms"].values():
                spec["seeds"] = spec["seeds"][:q["seeds"]]
    if overrides:
        cfg = merge(cfg, overrides, free_form=FREE_FORM)
    cfg["quick_mode"] = bool(quick)
    _check(cfg)
    return cfg


MAX_EXTENDS = 4


def _chain(path: Path) -> list[dict]:
    """The config file and the ones it ``extends`` (a config path, as ``synth.config``), the
    furthest ancestor first: each file overrides the one it extends (``arms``, ``train`` and
    the other free-form blocks wholesale)."""
    chain: list[dict] = []
    seen: list[str] = []
    while True:
        data = read_yaml(path)
        chain.insert(0, data)
        seen.append(str(paths.config_path(path)))
        parent = data.pop("extends", None)
        if parent is None:
            return chain
        if not isinstance(parent, str) or not parent:
            raise ConfigError(f"{path}: extends must be a config path, got {parent!r}")
        if len(seen) > MAX_EXTENDS or str(paths.config_path(parent)) in seen:
            raise ConfigError(f"{path}: extends {parent!r} makes a chain longer than {MAX_EXTENDS} "
                              f"or a cycle ({' -> '.join(seen)})")
        path = Path(parent)


def _scale_steps(cfg: dict, steps: int) -> None:
    """Shrink the run to ``steps``: every step count in the trainer block and the arms'
    stages scales by the same factor, so the schedule keeps its shape."""
    t = cfg["train"].setdefault("train", {})
    old = int(t.get("max_steps", 100000))
    k = steps / old

    def s(v: int) -> int:
        return int(round(v * k))

    t["max_steps"] = steps
    if cfg["base"]["steps"]:
        cfg["base"]["steps"] = max(1, s(cfg["base"]["steps"]))
    for key in ("warmup_steps", "log_every", "sample_every", "ckpt_every"):
        if key in t:
            t[key] = max(1 if key != "warmup_steps" and key != "sample_every" else 0, s(t[key]))
    a = cfg["train"].get("loss", {}).get("align", {})
    if "margin_steps" in a:
        a["margin_steps"] = [s(v) for v in a["margin_steps"]]
    if cfg["eval"]["curve_every"]:
        cfg["eval"]["curve_every"] = max(1, s(cfg["eval"]["curve_every"]))
    cfg["rounds"]["at"] = [s(v) for v in cfg["rounds"]["at"]]
    for spec in cfg["arms"].values():
        for st in spec.get("stages", []):
            st["start"] = s(st["start"])
            for ph in st.get("size_buckets", []):
                ph["start"] = s(ph["start"])
