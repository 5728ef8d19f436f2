"""`textsynth experiment`: does training with textsynth's data keep text legible?

One command, resumable stage by stage (each finished stage leaves ``OUT/_stages/NAME.json``
and is skipped on rerun; a killed training run continues from its last checkpoint):

    splits        photos and documents by file, corpus lines by hash -> OUT/data/
    synth         training text: a `synth` job on the training split   -> OUT/data/synth
    synth-NAME    each of synth.variants: the same job, more overrides  -> OUT/data/synth-NAME
    curate        training documents: a `curate` job                   -> OUT/data/curate
    bench-doc     `bench build` on held-out documents                  -> OUT/benches/doc
    bench-synth   a synth job on held-out lines and photos             -> OUT/benches/synth
    bench-general crops of held-out photos                             -> OUT/benches/general
    overlap       proof that no bench shares a file or a line with training
    base          (base.steps > 0) the general-domain stage every arm shares, trained once
                  and cached across experiments (textsynth/experiment/base.py)
    fork/RUN      with a base: the run starts from the base's checkpoint
    train/RUN     one trainer run per arm and seed, same init (or base), budget and LR
                  schedule; the seed sets data order and sampling (after the fork)
    (--rounds N)  the closed loop: bench-tune, then the control in segments and the loop run
                  steered round by round (textsynth/experiment/loop.py)
    recon/RUN     reconstructions of every bench image by the run's weights (and by the
                  reference models), and of the curve benches by its periodic snapshots
    eval/RUN      `textsynth eval` of those reconstructions (PP-OCRv5 NED, PSNR, SSIM)
    curve/RUN     bench NED of the snapshots' reconstructions
    report        results.json, results.md, recon_grid.png, curves.png
"""

from __future__ import annotations

import copy
import json
import logging
import shutil
import time
from pathlib import Path

import cv2
import numpy as np

from textsynth import paths
from textsynth.config import read_json
from textsynth.experiment import base as base_model
from textsynth.experiment import loop
from textsynth.experiment.config import (arm_runs, base_trainer_config, control_arm, loop_plan,
                                         synth_variants, trainer_config, variant_set)
from textsynth.experiment.splits import check_no_overlap, make_splits
from textsynth.ocr import LazyOCR

log = logging.getLogger("textsynth.experiment")

BENCHES = ("doc", "synth", "general")     # every experiment's; "scene" when configured


def benches_of(cfg: dict) -> tuple[str, ...]:
    """The benches an experiment reads: the three, and the scene bench when it has one."""
    return BENCHES + (("scene",) if cfg["bench"]["scene"]["num_samples"] else ())
CURVE_BUCKETS = ("13-16", "17-20")
SIZE_BUCKETS = ("5-8", "9-12", "13-16", "17-20")


class ExperimentError(ValueError):
    """A stage produced nothing usable (no samples, no kept crops): the message says which."""


class Stages:
    """Markers of finished stages: ``OUT/_stages/NAME.json`` holds the stage's result."""

    def __init__(self, out: Path):
        self.dir = out / "_stages"
        self.dir.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        return self.dir / (name.replace("/", "--") + ".json")

    def done(self, name: str) -> dict | None:
        p = self.path(name)
        if not p.is_file():
            return None
        got = read_json(p, "stage result")
        if not isinstance(got, dict):
            raise ValueError(f"{p}: not a stage result (a JSON object); delete it to rerun the stage")
        return got

    def run(self, name: str, fn, *args, **kwargs) -> dict:
        got = self.done(name)
        if got is not None:
            log.info("stage %s: done before, skipped", name)
            return got
        log.info("stage %s: running", name)
        t0 = time.perf_counter()
        result = fn(*args, **kwargs) or {}
        result = {**result, "seconds": round(time.perf_counter() - t0, 1)}
        tmp = self.path(name).with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=1, ensure_ascii=False, default=str))
        tmp.replace(self.path(name))
        log.info("stage %s: done in %.1f s", name, result["seconds"])
        return result


# ------------------------------------------------------------------------------- data stages

def _synth_config(cfg: dict, section: dict, splits: dict, side: str, seed: int) -> dict:
    """A synth job's config on one side of the split: ``section``'s overrides over its own
    ``config`` (the scene bench's) or the experiment's synth config."""
    from textsynth.config import load_config

    over = copy.deepcopy(section["set"])
    over.setdefault("background", {})["dirs"] = [splits["photos"][side]]
    over.setdefault("text", {})["corpora"] = {lang: [s[side]] for lang, s in splits["corpora"].items()}
    over["seed"] = seed
    return load_config(paths.config_path(section.get("config") or cfg["synth"]["config"]), **over)


def _synth_job(scfg: dict, out: Path, n: int, per_shard: int, job: str, address) -> dict:
    from textsynth.synth import run

    result = run(scfg, str(out), n, per_shard, job=job, address=address, progress=False)
    if result.failed:
        raise ExperimentError(f"synth job {out} failed shards {sorted(result.failed)}")
    if result.stats["samples"] == 0:
        raise ExperimentError(f"synth job {out} made no samples: {result.stats['skips']}")
    return {"samples": result.stats["samples"], "skips": result.stats["skips"]}


def _curate_job(cfg: dict, docs: str, out: Path, address) -> dict:
    from textsynth.curation.config import load_curate_config
    from textsynth.curation.job import run

    ccfg = load_curate_config(paths.config_path(cfg["curate"]["config"]), **cfg["curate"]["set"])
    result = run(ccfg, [docs], str(out), dataset="doc", address=address, progress=False)
    if result.failed:
        raise ExperimentError(f"curate job {out} failed partitions {sorted(result.failed)}")
    if result.stats["kept"] == 0:
        raise ExperimentError(f"curate job {out} kept no crops (rejects: {result.stats['rejects']}); "
                           "the doc arm would have no data")
    return {"kept": result.stats["kept"], "rejects": result.stats["rejects"]}


def _doc_bench(cfg: dict, docs: str, out: Path, ocr) -> dict:
    from textsynth.evaluation.bench import build

    b = cfg["bench"]["doc"]
    try:
        return build([docs], str(out), max_pages=b["max_pages"], max_candidates=b["max_candidates"],
                     seed=cfg["seed"], ocr=ocr, log=log.info, progress=False,
                     min_block_chars=b["min_block_chars"])
    except ValueError as e:
        raise ExperimentError(f"doc bench {out}: {e}") from None


def _general_bench(cfg: dict, photos: str, out: Path) -> dict:
    """Square crops of held-out photos, as bench shards (``source: general``)."""
    from textsynth.synthesis.backgrounds import IMAGE_SUFFIXES, decode_image
    from textsynth.experiment.splits import list_files
    from textsynth.synthesis.render import encode
    from textsynth.card import write_manifest
    from textsynth.shards import atomic_write, filesystem, pack, publish

    g = cfg["bench"]["general"]
    side = g["side"]
    rng = np.random.default_rng([cfg["seed"], 7])
    samples = []
    for f in list_files([Path(photos)], IMAGE_SUFFIXES):
        img = decode_image(f, 80_000_000)
        h, w = img.shape[:2]
        if min(h, w) < side:
            k = side / min(h, w)
            img = cv2.resize(img, (max(side, round(w * k)), max(side, round(h * k))),
                             interpolation=cv2.INTER_CUBIC)
            h, w = img.shape[:2]
        for _ in range(g["crops_per_photo"]):
            y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
            crop = np.ascontiguousarray(img[y:y + side, x:x + side])
            key = f"general-000000-{len(samples):06d}"
            meta = {"source": "general", "lang": None, "width": side, "height": side, "text": "",
                    "lines": [], "char_px": None, "size_bucket": None, "recipe": None,
                    "origin": {"file": str(f), "box": [x, y, x + side, y + side]}, "scores": {}}
            samples.append((key, f"{key}.png", encode(crop, "png"), meta))
    fs, root = filesystem(str(out))
    tar_bytes, pq_bytes = pack(samples)
    publish(fs, root, "general-000000", tar_bytes, pq_bytes, len(samples), inputs=[photos])
    atomic_write(fs, f"{root}/stats.json", json.dumps({"samples": len(samples)}).encode())
    write_manifest(fs, root, "general")
    return {"samples": len(samples)}


def _enough(cfg: dict, kind: str, bench: Path, result: dict) -> dict:
    """The bench's size (images, and per size bucket for the synthetic one) added to its stage
    result; fewer than ``bench.doc.min_samples`` / ``bench.synth.min_per_bucket`` is an error
    saying what to change (the yardstick's noise depends on it)."""
    from collections import Counter

    from textsynth.evaluation.run import bench_members

    counts = Counter(meta.get("size_bucket") or "none" for _, _, _, meta in bench_members(bench))
    result = {**result, "images": sum(counts.values())}
    if kind in ("synth", "scene"):
        result["per_bucket"] = dict(sorted(counts.items()))
        need = cfg["bench"][kind]["min_per_bucket"]
        short = {b: counts.get(b, 0) for b in SIZE_BUCKETS if counts.get(b, 0) < need}
        if short:
            raise ExperimentError(f"{kind} bench {bench}: {short} images in size buckets that need "
                                  f"bench.{kind}.min_per_bucket = {need}; raise bench.{kind}.num_samples")
    else:
        need = cfg["bench"]["doc"]["min_samples"]
        if result["images"] < need:
            raise ExperimentError(
                f"doc bench {bench}: {result['images']} crops, bench.doc.min_samples is {need}; raise "
                "bench.doc.max_candidates or hold out more documents (split.bench_documents; the full "
                "asset profile has many more PDFs: `textsynth assets fetch --profile full` and "
                "assets.profile: full)")
    log.info("%s bench: %d images%s", kind, result["images"],
             f" per size bucket {result['per_bucket']}" if "per_bucket" in result else "")
    return result


def _subset_bench(src: Path, out: Path, n: int, buckets: tuple | None) -> dict:
    """The first ``n`` samples of a bench (in ``buckets`` when given) as a bench of their own:
    what the training curves are measured on."""
    from textsynth.evaluation.run import read_bench
    from textsynth.synthesis.render import encode
    from textsynth.card import write_manifest
    from textsynth.shards import filesystem, pack, publish

    samples = []
    for key, img, meta, _ in read_bench(src):
        if buckets and meta.get("size_bucket") not in buckets:
            continue
        samples.append((key, f"{key}.png", encode(img, "png"), meta))
        if len(samples) >= n:
            break
    if not samples:
        raise ExperimentError(f"{src}: no samples in size buckets {buckets} for the curves")
    fs, root = filesystem(str(out))
    tar_bytes, pq_bytes = pack(samples)
    publish(fs, root, f"{out.name}-000000", tar_bytes, pq_bytes, len(samples), inputs=[str(src)])
    write_manifest(fs, root, out.name)
    return {"samples": len(samples)}


# --------------------------------------------------------------------------------- the runs

def _train(tcfg: dict, out: Path, stop_at: int | None = None) -> dict:
    """Train (or resume) one run to the end, or to ``stop_at`` (a round step of the closed
    loop: the checkpoint there is kept under ``out/rounds/``)."""
    import torch

    from textsynth.vae.model import VAE, count_params
    from textsynth.vae.train import run, vae_config_of

    t0 = time.perf_counter()
    result = run(tcfg, out, resume=True, stop_at=stop_at)   # resume: a killed run continues
    if stop_at is not None:
        loop.keep_checkpoint(out, stop_at)
        return {"steps": result["step"], "train_seconds": round(time.perf_counter() - t0, 1)}
    if not (out / "vae.pt").is_file():
        raise ExperimentError(f"training run {out} ended without weights (step {result['step']})")
    with torch.device("meta"):
        n = count_params(VAE(vae_config_of(tcfg)))
    per_step = tcfg["data"]["batch_size"] * result["world"]
    images = result["step"] * per_step
    seconds = time.perf_counter() - t0        # of this call: from result["start"] on
    return {"steps": result["step"], "images": images, "train_seconds": round(seconds, 1),
            "images_per_s": round((result["step"] - result["start"]) * per_step / seconds, 2), "parameters": n,
            **{k: result[k] for k in ("peak_gpu_memory_gib", "gpu") if k in result}}


class Readers:
    """What every bench evaluation of one experiment reads text with: ``eval.ned``'s mode, and
    the OCR models loaded once (on first use) for all of them."""

    def __init__(self, mode: str, page):
        from textsynth.evaluation.run import LineReader

        self.mode, self.page, self.lines = mode, page, LineReader()


def _evaluate(bench: Path, model: str, out: Path, cache: Path, readers: Readers, read_text: bool = True) -> dict:
    """`textsynth eval` of ``model`` (``recon:DIR`` or a checkpoint) on ``bench`` into ``out``;
    the benches' own OCR is cached once for the whole experiment in ``cache``."""
    from textsynth.evaluation.run import evaluate

    res = evaluate(str(bench), model, str(out), cache_dir=str(cache), ocr=readers.page, progress=False,
                   read_text=read_text, ned_mode=readers.mode, line_reader=readers.lines)
    return {k: res[k] for k in ("overall", "by_lang", "by_size_bucket", "seconds", "ned_mode")}


def _reconstruct(model: str, benches: dict, out: Path, snapshots: Path | None,
                 curve_benches: dict) -> dict:
    """Reconstructions of every bench image by ``model`` into ``out/BENCH/KEY.png``; with
    ``snapshots``, each snapshot's reconstructions of the curve benches into
    ``out/curve/step_N/BENCH`` (the snapshots are deleted afterwards: they were only for this)."""
    from textsynth.evaluation.references import load, write_reconstructions

    fn = load(model)          # once: a large checkpoint takes seconds to read
    counts = {b: write_reconstructions(fn, path, out / b) for b, path in benches.items()}
    steps = []
    if snapshots is not None and curve_benches:
        snaps = sorted(snapshots.glob("step_*.pt"))
        for snap in snaps:
            step = int(snap.stem.split("_")[1])
            fn = load(str(snap))
            for b, path in curve_benches.items():
                write_reconstructions(fn, path, out / "curve" / f"step_{step:08d}" / b)
            steps.append(step)
        for snap in snaps:
            snap.unlink()
    return {"images": counts, "curve_steps": steps}


def _curve(recon: Path, curve_benches: dict, final: dict, out: Path, cache: Path, readers) -> dict:
    """Bench NED at every snapshot (the final point comes from the full eval's curve subset)."""
    points = []
    for d in sorted((recon / "curve").glob("step_*")):
        point = {"step": int(d.name.split("_")[1])}
        for name, bench in curve_benches.items():
            r = _evaluate(bench, f"recon:{d / name}", out / d.name / name, cache, readers)
            point[f"{name}_ned"] = r["overall"].get("ned")
        points.append(point)
    if final.get("step") and not any(p["step"] == final["step"] for p in points):
        point = {"step": final["step"]}
        for name, bench in curve_benches.items():
            point[f"{name}_ned"] = _evaluate(bench, f"recon:{recon / f'curve-{name}'}", out / "final" / name,
                                             cache, readers)["overall"].get("ned")
        points.append(point)
    shutil.rmtree(out, ignore_errors=True)
    return {"points": points}


def run(cfg: dict, out: str | Path, address: str | None = None, only: str | None = None) -> dict:
    """Run (or resume) the experiment into ``out``; returns the results dict.

    ``only``: ``data`` stops after the data and benches, ``train`` after the training runs,
    ``recon`` after the bench reconstructions (what a GPU machine without OCR can do);
    ``None`` runs everything."""
    from textsynth.experiment import report

    out = Path(out).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    _check_same_config(cfg, out)
    st = Stages(out)
    ocr = LazyOCR()                     # page OCR of the data stages (doc bench, curation)
    readers = Readers(cfg["eval"]["ned"], ocr)
    data, benches = out / "data", out / "benches"

    _check_assets(cfg)
    splits = _absolute(st.run("splits", make_splits, cfg, data), data)
    sc = cfg["synth"]
    st.run("synth", lambda: _synth_job(_synth_config(cfg, sc, splits, "train", cfg["seed"]),
                                       data / "synth", sc["num_samples"], sc["samples_per_shard"],
                                       "synth", address))
    for name in synth_variants(cfg):   # more synthetic sources: the same job, more overrides
        st.run(f"synth-{name}", lambda name=name: _synth_job(
            _synth_config(cfg, {"set": variant_set(cfg, name)}, splits, "train", cfg["seed"]),
            data / f"synth-{name}", sc["num_samples"], sc["samples_per_shard"], f"synth-{name}", address))
    st.run("curate", _curate_job, cfg, splits["documents"]["train"], data / "curate", address)
    st.run("bench-doc", lambda: _enough(cfg, "doc", benches / "doc",
                                        _doc_bench(cfg, splits["documents"]["bench"], benches / "doc", ocr)))
    bs = cfg["bench"]["synth"]
    st.run("bench-synth", lambda: _enough(cfg, "synth", benches / "synth", _synth_job(
        _synth_config(cfg, bs, splits, "bench", cfg["seed"] + 1000), benches / "synth",
        bs["num_samples"], bs["num_samples"], "bsynth", address)))
    ss = cfg["bench"]["scene"]
    if ss["num_samples"]:   # same held-out photos and lines, another synth config
        st.run("bench-scene", lambda: _enough(cfg, "scene", benches / "scene", _synth_job(
            _synth_config(cfg, ss, splits, "bench", cfg["seed"] + 2000), benches / "scene",
            ss["num_samples"], ss["num_samples"], "bscene", address)))
    st.run("bench-general", _general_bench, cfg, splits["photos"]["bench"], benches / "general")
    st.run("overlap", check_no_overlap,
           {"photos": splits["photos"]["train"], "synth": data / "synth", "curate": data / "curate",
            "documents": splits["documents"]["train"]},
           {b: benches / b for b in BENCHES})
    for name in synth_variants(cfg):
        st.run(f"overlap-{name}", check_no_overlap,
               {"photos": splits["photos"]["train"], "synth": data / f"synth-{name}"},
               {b: benches / b for b in BENCHES})
    if ss["num_samples"]:   # the scene bench is checked like the synthetic one, against every source
        st.run("overlap-scene", lambda: {src: check_no_overlap(
            {"photos": splits["photos"]["train"], "synth": data / src}, {"synth": benches / "scene"})
            for src in ["synth", *(f"synth-{n}" for n in synth_variants(cfg))]})
    curve_benches = {}
    if cfg["eval"]["curve_every"]:
        n = cfg["eval"]["curve_images"]
        st.run("bench-curve-synth", _subset_bench, benches / "synth", benches / "curve-synth", n,
               CURVE_BUCKETS)
        st.run("bench-curve-doc", _subset_bench, benches / "doc", benches / "curve-doc",
               max(1, n // 2), None)
        curve_benches = {"synth": benches / "curve-synth", "doc": benches / "curve-doc"}
    if only == "data":
        return {"out": str(out), "stopped_after": "data"}

    sources = {"general": {"paths": [splits["photos"]["train"]], "role": "general"},
               "doc": {"paths": [str(data / "curate")], "role": "text"},
               "synth": {"paths": [str(data / "synth")], "role": "text"},
               **{name: {"paths": [str(data / f"synth-{name}")], "role": "text"} for name in synth_variants(cfg)}}
    for key, src in cfg.get("source_options", {}).items():
        sources[key].update(src)
    runs = arm_runs(cfg)
    plan = loop_plan(cfg)
    if plan:
        _tune_bench(cfg, st, splits, data, benches, address)

    def tcfg_of(arm: str, seed: int, synth: Path | None = None) -> dict:
        src = copy.deepcopy(sources)
        if synth is not None:
            src["synth"]["paths"] = [str(synth)]
        tcfg = trainer_config(cfg, arm, seed, src)
        if curve_benches:
            tcfg["train"]["snapshot_every"] = cfg["eval"]["curve_every"]
        if cfg["base"]["steps"]:
            tcfg["data"]["resume"] = "reseed"   # after the fork: this run's seed sets the order
        return tcfg

    pending = [name for name, _, _ in runs if st.done(f"train/{name}") is None]
    base_photos = {"paths": [splits["photos"].get("base", splits["photos"]["train"])], "role": "general"}
    base = _base(cfg, st, base_photos) if cfg["base"]["steps"] and pending else None
    for name, arm, seed in runs:
        if base and not (plan and name == plan["loop"]):    # the loop forks from its control
            st.run(f"fork/{name}", loop.fork, Path(base["dir"]), out / "runs" / name, base["step"])
        if plan and name == plan["loop"]:
            _steer(cfg, plan, st, splits, out, readers, address, tcfg_of)
            continue
        if plan and name == plan["control"]:    # in segments: its checkpoints at the round steps
            for step in plan["at"]:
                st.run(f"train/{name}@{step}", _train, tcfg_of(arm, seed), out / "runs" / name, step)
        st.run(f"train/{name}", _train, tcfg_of(arm, seed), out / "runs" / name)
    if only == "train":
        return {"out": str(out), "stopped_after": "train"}

    # Reconstruct (needs the model: GPU when there is one), then measure (needs OCR).
    all_benches = {b: benches / b for b in benches_of(cfg)}
    all_benches.update({f"curve-{k}": v for k, v in curve_benches.items()})
    models = {name: str(out / "runs" / name / "vae.pt") for name, _, _ in runs}
    models.update({f"ref:{r}": r for r in cfg["eval"]["references"]})
    for name, model in models.items():
        snaps = out / "runs" / name / "snapshots" if name in {r[0] for r in runs} else None
        st.run(f"recon/{name}", _reconstruct, model, all_benches, out / "recon" / name, snaps,
               curve_benches)
    if only == "recon":
        return {"out": str(out), "stopped_after": "recon"}
    for name in models:
        for b in benches_of(cfg):
            st.run(f"eval/{name}/{b}", _evaluate, benches / b, f"recon:{out / 'recon' / name / b}",
                   out / "eval" / name / b, out / "eval-cache", readers, b != "general")
    if plan:
        _rounds_on_bench(plan, st, out, benches / "synth", readers)
    if curve_benches:
        for name, _, _ in runs:
            final = {"step": (st.done(f"train/{name}") or {}).get("steps")}
            st.run(f"curve/{name}", _curve, out / "recon" / name, curve_benches, final,
                   out / "curves-work" / name, out / "eval-cache", readers)
        shutil.rmtree(out / "curves-work", ignore_errors=True)
    return _with_base(report.write(cfg, out, st, runs, models, control=control_arm(cfg)), st, out)


def _base(cfg: dict, st: Stages, general: dict) -> dict:
    """The shared base: reused from the cache or trained into it (the log says which); the
    stage records what this experiment first got (results.json's ``base``)."""
    got = base_model.ensure(base_trainer_config(cfg, general), cfg["base"]["steps"],
                            base_model.cache_root(cfg), _train)
    if st.done("base") is None:
        st.run("base", lambda: got)
    return got


def _with_base(doc: dict, st: Stages, out: Path) -> dict:
    """results.json records the base the runs forked from (its key, and whether this
    experiment trained it or reused it). Not its directory: results are shared, and a path
    names the machine that made them; the key finds the base in any cache."""
    b = st.done("base")
    if b:
        doc["base"] = {k: b[k] for k in ("key", "status", "step") if k in b}
        (out / "results.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False))
    return doc


def _check_assets(cfg: dict) -> None:
    """``assets.profile: full``: the experiment needs the full asset profile (more held-out
    documents); say so, and stop with the command that fetches it when it is missing."""
    profile = cfg["assets"]["profile"]
    if not profile:
        return
    from textsynth.assets.fetch import is_done, load_items

    missing = [f"{it.section}/{it.name}" for it in load_items(profile) if not is_done(it)]
    if missing:
        raise ExperimentError(f"assets.profile {profile!r}: {len(missing)} asset items missing "
                              f"({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}); run "
                              f"`textsynth assets fetch --profile {profile}` first")
    log.info("data: the experiment uses the %s asset profile (all %d items present in %s)",
             profile, len(load_items(profile)), paths.home())


# ------------------------------------------------------------------------ the closed loop

def _tune_bench(cfg: dict, st: Stages, splits: dict, data: Path, benches: Path, address) -> None:
    """The loop's tune bench: the final synth bench's recipe on the tune split, and the proof
    that it shares no photo or line with training or with the final bench."""
    n = cfg["rounds"]["tune_samples"]
    st.run("bench-tune", lambda: _synth_job(_synth_config(cfg, cfg["bench"]["synth"], splits, "tune",
                                                          cfg["seed"] + 2000),
                                            benches / "tune", n, n, "tune", address))
    st.run("overlap-tune", lambda: {
        "training": check_no_overlap({"photos": splits["photos"]["train"], "synth": data / "synth"},
                                     {"synth": benches / "tune"}),
        "final_bench": check_no_overlap({"photos": splits["photos"]["bench"], "synth": benches / "synth"},
                                        {"synth": benches / "tune"}, against="final bench")})


def _steer(cfg: dict, plan: dict, st: Stages, splits: dict, out: Path, readers, address, tcfg_of) -> None:
    """The loop run: forked from the control at the first round step, then evaluate on the tune
    bench -> suggest -> regenerate the synthetic source -> train on, once per round."""
    control, name = out / "runs" / plan["control"], out / "runs" / plan["loop"]
    arm, seed = plan["arm"], cfg["arms"][plan["arm"]]["seeds"][0]
    at, mix = plan["at"], cfg["rounds"]["mix"]
    st.run(f"fork/{plan['loop']}", loop.fork, control, name, at[0])
    scfg = _synth_config(cfg, cfg["synth"], splits, "train", cfg["seed"])   # round 0: the config's mix
    for r, step in enumerate(at, start=1):
        ck = loop.round_checkpoint(control if r == 1 else name, step)
        tune = out / "eval" / plan["loop"] / f"tune-r{r}"
        st.run(f"tune/{plan['loop']}/r{r}", _evaluate, out / "benches" / "tune", str(ck), tune,
               out / "eval-cache", readers)
        moved = st.run(f"mix/{plan['loop']}/r{r}", loop.suggest, tune, scfg, mix,
                       out / "rounds" / f"r{r}-mix.md")
        scfg = _synth_config(cfg, loop.with_weights(cfg["synth"], moved["weights"]), splits, "train",
                             cfg["seed"] + r)
        synth = out / "data" / f"synth-r{r}"

        def regenerate(r=r, synth=synth, scfg=scfg) -> dict:
            got = _synth_job(scfg, synth, cfg["synth"]["num_samples"], cfg["synth"]["samples_per_shard"],
                             f"synth-r{r}", address)
            got["overlap"] = check_no_overlap(
                {"photos": splits["photos"]["train"], "synth": synth},
                {"synth": out / "benches" / "synth", "general": out / "benches" / "general"})
            return got

        st.run(f"synth-r{r}", regenerate)
        tcfg = tcfg_of(arm, seed, synth)
        tcfg["data"]["resume"] = "reseed"     # a new source: a fresh order, nothing to skip
        last = r == len(at)
        st.run(f"train/{plan['loop']}" if last else f"train/{plan['loop']}@{at[r]}",
               _train, tcfg, name, None if last else at[r])


def _rounds_on_bench(plan: dict, st: Stages, out: Path, bench: Path, readers) -> None:
    """Both runs' weights at every round step on the final synthetic bench (round 0: the
    control's, which the loop shares)."""
    for i, step in enumerate(plan["at"]):
        for run_name in ([plan["control"]] if i == 0 else [plan["control"], plan["loop"]]):
            st.run(f"rounds/{run_name}@{step}", _evaluate, bench,
                   str(loop.round_checkpoint(out / "runs" / run_name, step)),
                   out / "eval" / run_name / f"round-{step}", out / "eval-cache", readers)


def _absolute(manifest: dict, data: Path) -> dict:
    """The splits manifest with its (data-relative) paths made absolute."""
    out = {k: {side: str(data / p) for side, p in manifest[k].items()} for k in ("photos", "documents")}
    out["corpora"] = {lang: {side: str(data / p) for side, p in sides.items()}
                      for lang, sides in manifest["corpora"].items()}
    return out


def _check_same_config(cfg: dict, out: Path) -> None:
    """Resuming with a different config would mix two experiments: refuse."""
    import yaml

    path = out / "experiment.yaml"
    text = yaml.safe_dump(cfg, sort_keys=True, allow_unicode=True)
    if path.exists() and path.read_text() != text and not _same_up_to_new_defaults(
            yaml.safe_load(path.read_text()), cfg):
        raise ValueError(f"{out} holds an experiment with a different config ({path}); "
                         "use another --out, or delete it to start over")
    path.write_text(text)


def _same_up_to_new_defaults(old, new, defaults=None) -> bool:
    """Whether ``new`` is ``old`` plus only keys a later textsynth added at their defaults
    (e.g. ``bench.scene`` off): an experiment started before an upgrade still resumes."""
    from textsynth.experiment.config import DEFAULTS

    defaults = DEFAULTS if defaults is None else defaults
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return old == new
    if set(old) - set(new):
        return False
    for key, value in new.items():
        d = defaults.get(key) if isinstance(defaults, dict) else None
        if key not in old:
            if value != d:
                return False
        elif not _same_up_to_new_defaults(old[key], value, d):
            return False
    return True
