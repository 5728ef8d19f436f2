"""One base model, many arms (issue 26), end to end on the micro config: the general-domain
stage is trained once (real training of the tiny VAE, real synth/curate jobs on an embedded Ray,
real PP-OCRv5 on the benches), cached outside the experiment, reused by a second experiment
whose base matches, trained anew when a dependency changes; every run forks from it and runs
with its own seed."""

from __future__ import annotations

import copy
import csv
import json
import shutil

import pytest
import torch
import yaml

from test_experiment import MICRO, _run, _write
from textsynth.config import ConfigError
from textsynth.experiment import load_experiment_config
from textsynth.vae.checkpoint import load_checkpoint

BASE_STEPS = 2
DATA_STAGES = ("splits", "synth", "curate", "bench-doc", "bench-synth", "bench-general", "overlap",
               "bench-curve-synth", "bench-curve-doc")


def _config(cache, **base) -> dict:
    cfg = copy.deepcopy(MICRO)
    cfg["base"] = {"steps": BASE_STEPS, "cache_dir": str(cache), **base}
    cfg["arms"]["general"]["seeds"] = [0, 1, 2]
    cfg["control"] = "general"
    return cfg


def _second_experiment(first, out2):
    """Another experiment on the same data: the first one's data and benches, as a resumed
    experiment would find them (so only the training half runs again)."""
    out2.mkdir()
    for d in ("data", "benches"):
        shutil.copytree(first / d, out2 / d, symlinks=True)
    (out2 / "_stages").mkdir()
    for name in DATA_STAGES:
        shutil.copyfile(first / "_stages" / f"{name}.json", out2 / "_stages" / f"{name}.json")


def _write_as(path, cfg):
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _log_rows(run_dir):
    """(step, L1) of every logged step (arms log more sources than the base: more columns)."""
    with (run_dir / "log.csv").open() as f:
        return [(int(r["step"]), r["l1"]) for r in csv.DictReader(f)]


@pytest.fixture(scope="module")
def based(micro_data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("base")
    cache = tmp / "cache"
    cfg = _write(tmp, _config(cache))
    out = tmp / "out"
    _second_experiment(micro_data[1], out)      # the micro data and benches, made once per session
    proc = _run(cfg, out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return tmp, cache, out, proc


def _key(stderr: str, status: str) -> str:
    lines = [ln for ln in stderr.splitlines() if f": {status} (" in ln and " base " in ln]
    assert len(lines) == 1, stderr[-3000:]
    return lines[0].split(" base ")[1].split(":")[0]


def test_base_is_trained_once_and_recorded(based):
    _, cache, out, proc = based
    key = _key(proc.stderr, "trained")
    res = json.loads((out / "results.json").read_text())
    assert res["base"]["key"] == key and res["base"]["status"] == "trained"
    assert res["base"]["step"] == BASE_STEPS
    assert "dir" not in res["base"]                    # no machine path in shared results
    base = cache / f"base-{key}"
    marker = json.loads((base / "base.json").read_text())
    assert marker["key"] == key and marker["inputs"]["general_files"]
    assert not list(cache.glob("*.partial"))           # trained in a temp dir, renamed in place
    assert (base / "rounds" / f"step_{BASE_STEPS:08d}.pt").is_file()


def test_every_run_forks_from_the_base_and_seeds_differ(based):
    _, cache, out, proc = based
    key = _key(proc.stderr, "trained")
    base = cache / f"base-{key}"
    base_rows = _log_rows(base)
    assert base_rows and all(step < BASE_STEPS for step, _ in base_rows)
    res = json.loads((out / "results.json").read_text())
    runs = ["general", "general-s1", "general-s2", "infusion"]
    weights = {}
    for name in runs:
        run = out / "runs" / name
        assert f"resumed from {run / 'checkpoints' / 'last.pt'} at step {BASE_STEPS}" in \
            (run / "train.log").read_text()
        rows = _log_rows(run)
        # the base's rows, then the run's own: its first logged step continues from the base's
        assert rows[:len(base_rows)] == base_rows
        assert rows[len(base_rows)][0] >= BASE_STEPS
        m = res["models"][name]
        assert m["steps"] == MICRO["train"]["train"]["max_steps"] and set(m["benches"]) == {"doc", "synth", "general"}
        assert (out / "eval" / name / "synth" / "per_image.parquet").is_file()
        weights[name] = load_checkpoint(run / "vae.pt")["model"]
    assert [res["models"][n]["seed"] for n in runs[:3]] == [0, 1, 2]
    some = next(k for k, v in weights["general"].items() if v.is_floating_point() and v.numel() > 100)
    for a, b in (("general", "general-s1"), ("general", "general-s2"), ("general-s1", "general-s2")):
        assert not torch.equal(weights[a][some], weights[b][some]), (a, b)   # seeds: other order/sampling


def test_a_second_experiment_reuses_the_base(based):
    tmp, cache, out, proc = based
    key = _key(proc.stderr, "trained")
    mtime = (cache / f"base-{key}" / "base.json").stat().st_mtime_ns
    out2 = tmp / "out2"
    _second_experiment(out, out2)
    cfg = copy.deepcopy(_config(cache))
    cfg["arms"]["general"]["seeds"] = [5]             # other arms, same base
    del cfg["arms"]["infusion"]
    p = _write_as(tmp / "second.yaml", cfg)
    got = _run(p, out2, "--only", "train")
    assert got.returncode == 0, got.stderr[-5000:]
    assert _key(got.stderr, "reused") == key and ": trained (" not in got.stderr
    assert "training 2 steps" not in got.stderr
    assert json.loads((out2 / "_stages" / "base.json").read_text())["status"] == "reused"
    assert (cache / f"base-{key}" / "base.json").stat().st_mtime_ns == mtime
    assert f"at step {BASE_STEPS}" in (out2 / "runs" / "general" / "train.log").read_text()


@pytest.mark.parametrize("change", ["seed", "lr"])
def test_a_changed_dependency_trains_a_new_base(based, change):
    tmp, cache, out, proc = based
    key = _key(proc.stderr, "trained")
    cfg = _config(cache, seed=1) if change == "seed" else _config(cache)
    if change == "lr":
        cfg["train"]["train"]["lr"] = 2e-3
    cfg["arms"] = {"general": {**cfg["arms"]["general"], "seeds": [0]}}
    out3 = tmp / f"out-{change}"
    _second_experiment(out, out3)
    p = _write_as(tmp / f"{change}.yaml", cfg)
    got = _run(p, out3, "--only", "train")
    assert got.returncode == 0, got.stderr[-5000:]
    new = _key(got.stderr, "trained")
    assert new != key and (cache / f"base-{new}" / "base.json").is_file()


def test_a_partial_base_is_never_reused(based, tmp_path):
    """A base dir without its marker (a crash between writing and renaming cannot leave one,
    but a hand copy can) is trained again, not forked from."""
    from textsynth.experiment import base as base_model
    from textsynth.experiment.config import base_trainer_config
    from textsynth.experiment.run import _train

    tmp, cache, out, proc = based
    key = _key(proc.stderr, "trained")
    root = tmp_path / "cache"
    shutil.copytree(cache / f"base-{key}", root / f"base-{key}")
    (root / f"base-{key}" / "base.json").unlink()
    cfg = load_experiment_config(_write_as(tmp_path / "c.yaml", _config(root)))
    tcfg = base_trainer_config(cfg, {"paths": [str(out / "data" / "photos" / "base")], "role": "general"})
    got = base_model.ensure(tcfg, BASE_STEPS, root, _train)
    assert (got["key"], got["status"]) == (key, "trained")
    assert base_model.complete(root / f"base-{key}", BASE_STEPS)
    assert base_model.ensure(tcfg, BASE_STEPS, root, _train)["status"] == "reused"


def test_base_config_errors_name_the_arm(tmp_path):
    bad = _config(tmp_path / "cache")
    bad["arms"]["infusion"]["stages"][1]["start"] = 1     # text before the base's end
    with pytest.raises(ConfigError, match="arms.infusion: stage at start 1 mixes"):
        load_experiment_config(_write(tmp_path, bad))
    bad = _config(tmp_path / "cache", steps=6)
    with pytest.raises(ConfigError, match="base.steps 6 must be below"):
        load_experiment_config(_write(tmp_path, bad))
    bad = _config(tmp_path / "cache")
    bad["control"] = "nope"
    with pytest.raises(ConfigError, match="control 'nope' is not an arm"):
        load_experiment_config(_write(tmp_path, bad))


def test_quick_has_its_own_base_and_the_key_ignores_logging(tmp_path):
    """--quick scales the base with every other step count, and its trainer block differs, so
    its key does too; intervals of logging and checkpoints change no weight and no key."""
    from test_experiment import REPO
    from textsynth.experiment import base as base_model
    from textsynth.experiment.config import base_trainer_config

    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.jpg").write_bytes(b"one photo")
    general = {"paths": [str(photos)], "role": "general"}
    path = REPO / "pipelines" / "configs" / "ablation_cpu.yaml"
    full, quick = load_experiment_config(path), load_experiment_config(path, quick=True)
    k = quick["train"]["train"]["max_steps"] / full["train"]["train"]["max_steps"]
    assert quick["base"]["steps"] == round(full["base"]["steps"] * k) > 0
    assert all(len(s["seeds"]) >= 3 for s in full["arms"].values())
    keys = {}
    for name, cfg in (("full", full), ("quick", quick)):
        keys[name] = base_model.key_of(base_model.key_inputs(base_trainer_config(cfg, general),
                                                             cfg["base"]["steps"]))
    assert keys["full"] != keys["quick"]
    chatty = copy.deepcopy(full)
    chatty["train"]["train"]["log_every"] = 1
    assert base_model.key_of(base_model.key_inputs(base_trainer_config(chatty, general),
                                                   full["base"]["steps"])) == keys["full"]
    (photos / "a.jpg").write_bytes(b"another photo")          # the data is part of the key
    assert base_model.key_of(base_model.key_inputs(base_trainer_config(full, general),
                                                   full["base"]["steps"])) != keys["full"]


def test_bench_size_checks_name_the_key(based):
    """A bench smaller than the config asks for stops the data stage, naming the key."""
    from textsynth.experiment.run import ExperimentError, _enough

    tmp, cache, out, _ = based
    cfg = load_experiment_config(_write_as(tmp / "sizes.yaml", _config(cache)))
    got = _enough(cfg, "synth", out / "benches" / "synth", {})
    assert got["images"] == MICRO["bench"]["synth"]["num_samples"] == sum(got["per_bucket"].values())
    cfg["bench"]["synth"]["min_per_bucket"] = 100
    with pytest.raises(ExperimentError, match="bench.synth.min_per_bucket = 100"):
        _enough(cfg, "synth", out / "benches" / "synth", {})
    cfg["bench"]["doc"]["min_samples"] = 64
    with pytest.raises(ExperimentError, match="bench.doc.min_samples is 64.*assets fetch --profile full"):
        _enough(cfg, "doc", out / "benches" / "doc", {})


def test_the_full_asset_profile_is_required_when_asked(tmp_path):
    from textsynth.assets.fetch import is_done, load_items
    from textsynth.experiment.run import ExperimentError, _check_assets

    if all(is_done(it) for it in load_items("full")):
        pytest.skip("the full asset profile is present here")
    cfg = load_experiment_config(_write_as(tmp_path / "full.yaml", {**_config(tmp_path), "assets": {"profile": "full"}}))
    with pytest.raises(ExperimentError, match=r"assets.profile 'full'.*textsynth assets fetch --profile full"):
        _check_assets(cfg)
    _check_assets(load_experiment_config(_write_as(tmp_path / "ci.yaml", {**_config(tmp_path), "assets": {"profile": "ci"}})))
