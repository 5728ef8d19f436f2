"""The closed loop of the experiment (issue 18, `textsynth experiment --rounds N`), end to end
on a micro config: real synth jobs on an embedded Ray (the tune bench and one regenerated
synthetic source per round), real PP-OCRv5 on the tune and final benches, real training of
the tiny VAE; only the sizes are small."""

from __future__ import annotations

import copy
import json

import pytest
import torch
import yaml

from test_experiment import MICRO, _run, _write
from textsynth.config import ConfigError
from textsynth.experiment import load_experiment_config
from textsynth.experiment.loop import verdict, with_weights
from textsynth.vae.checkpoint import load_checkpoint

LOOP = copy.deepcopy(MICRO)
LOOP["arms"] = {"infusion": {**copy.deepcopy(MICRO["arms"]["infusion"]), "seeds": [0, 1]}}
LOOP["train"]["train"].update(max_steps=8, ckpt_every=4)
LOOP["eval"]["curve_every"] = 4
LOOP["rounds"] = {"tune_samples": 8}          # count comes from --rounds


@pytest.fixture(scope="module")
def looped(assets, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("loop")
    cfg = _write(tmp, LOOP)
    out = tmp / "out"
    proc = _run(cfg, out, "--rounds", "2")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return cfg, out, proc


def test_rounds_record_ned_per_bucket_next_to_the_control(looped):
    _, out, proc = looped
    res = json.loads((out / "results.json").read_text())
    models = res["models"]
    # the control (seed 0), its second seed, and the loop: same steps and images
    for name in ("infusion", "infusion-s1", "infusion_loop"):
        assert models[name]["steps"] == 8 and models[name]["images"] == 32
    sec = res["loop"]
    assert (sec["control"], sec["loop"], sec["at"]) == ("infusion", "infusion_loop", [5, 7])
    rounds = sec["rounds"]
    assert [(r["round"], r["step"]) for r in rounds] == [(0, 5), (1, 7), (2, 8)]
    assert rounds[0]["bench"]["control"] == rounds[0]["bench"]["loop"]   # shared up to the fork
    for r in rounds:
        assert r["bench"]["control"] and set(r["bench"]["loop"]) == set(r["bench"]["control"])
        assert set(r["weights"]["size"]["bucket_probs"]) == {"5-8", "9-12", "13-16", "17-20"}
        for v in r["bench"]["loop"].values():
            assert 0 <= v["ned"] <= 1 and v["n"] >= 1
    for r in rounds[1:]:    # what steered it: the tune bench, read at the previous round step
        assert r["steered_by"]["tune_step"] == sec["at"][r["round"] - 1]
        assert r["steered_by"]["by_size_bucket"]
    # the final round is the runs' own final eval
    assert rounds[-1]["bench"]["control"] == {b: {"n": v["n"], "ned": v["ned"]} for b, v in
                                              models["infusion"]["benches"]["synth"]["by_size_bucket"].items()}
    t = sec["target"]
    assert t["worst_bucket"] in rounds[0]["bench"]["control"] and t["second_seed_run"] == "infusion-s1"
    assert "worst_rises_more" in t and "no_bucket_falls_beyond_spread" in t
    md = (out / "results.md").read_text()
    assert "Closed loop" in md and "| 0 | 5 |" in md and "infusion_loop" in md
    for r in (1, 2):
        assert (out / "rounds" / f"r{r}-mix.md").read_text().startswith("# Mix suggestion")


def test_each_round_regenerates_the_synthetic_source_with_its_weights(looped):
    _, out, _ = looped
    res = json.loads((out / "results.json").read_text())
    for r in (1, 2):
        used = yaml.safe_load((out / "data" / f"synth-r{r}" / "config.yaml").read_text())
        assert used["size"]["bucket_probs"] == res["loop"]["rounds"][r]["weights"]["size"]["bucket_probs"]
        assert used["seed"] == r and (out / "data" / f"synth-r{r}" / "stats.json").is_file()
    trained = yaml.safe_load((out / "runs" / "infusion_loop" / "config.yaml").read_text())
    assert trained["data"]["sources"]["synth"]["paths"] == [str(out / "data" / "synth-r2")]
    control = yaml.safe_load((out / "runs" / "infusion" / "config.yaml").read_text())
    assert control["data"]["sources"]["synth"]["paths"] == [str(out / "data" / "synth")]
    # it forked from the control and then trained on other data: other weights
    fork = json.loads((out / "_stages" / "fork--infusion_loop.json").read_text())
    assert fork["step"] == 5
    a = load_checkpoint(out / "runs" / "infusion" / "vae.pt")["model"]
    b = load_checkpoint(out / "runs" / "infusion_loop" / "vae.pt")["model"]
    assert any(not torch.equal(a[k], b[k]) for k in a)
    # its training log continues the control's (rows before the fork are the control's)
    log = (out / "runs" / "infusion_loop" / "log.csv").read_text().splitlines()
    assert log[1] == (out / "runs" / "infusion" / "log.csv").read_text().splitlines()[1]


def test_the_tune_split_is_apart_from_training_and_the_final_bench(looped):
    _, out, _ = looped
    splits = json.loads((out / "data" / "splits.json").read_text())
    for lang in ("en", "zh"):
        sides = {s: set((out / "data" / p).read_text().splitlines())
                 for s, p in splits["corpora"][lang].items()}
        assert set(sides) == {"train", "tune", "bench"} and all(sides.values())
        assert not sides["tune"] & sides["train"] and not sides["tune"] & sides["bench"]
    assert splits["counts"]["photos"]["tune"] > 0
    tune = yaml.safe_load((out / "benches" / "tune" / "config.yaml").read_text())
    assert tune["background"]["dirs"] == [str(out / "data" / "photos" / "tune")]
    overlap = json.loads((out / "_stages" / "overlap-tune.json").read_text())
    assert set(overlap) >= {"training", "final_bench"}


def test_moved_weights_reach_the_synth_config(looped):
    from textsynth.experiment.run import _absolute, _synth_config

    cfg_path, out, _ = looped
    cfg = load_experiment_config(cfg_path, overrides={"rounds": {"count": 2}})
    splits = _absolute(json.loads((out / "data" / "splits.json").read_text()), out / "data")
    moved = {"size": {"bucket_probs": {"5-8": 0.4, "9-12": 0.3, "13-16": 0.2, "17-20": 0.1}},
             "text": {"lang_probs": {"en": 0.3, "zh": 0.6, "mixed": 0.1}}}
    scfg = _synth_config(cfg, with_weights(cfg["synth"], moved), splits, "train", 7)
    assert scfg["size"]["bucket_probs"] == moved["size"]["bucket_probs"]
    assert scfg["text"]["lang_probs"] == moved["text"]["lang_probs"]
    assert scfg["canvas"]["width"] == MICRO["synth"]["set"]["canvas"]["width"]   # the rest kept


def test_the_loop_verdict():
    start = {"5-8": {"n": 9, "ned": 0.10}, "9-12": {"n": 9, "ned": 0.30}, "13-16": {"n": 9, "ned": 0.60}}
    rounds = [{"bench": {"control": start}}]
    control = {"5-8": {"n": 9, "ned": 0.12}, "9-12": {"n": 9, "ned": 0.33}, "13-16": {"n": 9, "ned": 0.62}}
    loop = {"5-8": {"n": 9, "ned": 0.18}, "9-12": {"n": 9, "ned": 0.34}, "13-16": {"n": 9, "ned": 0.59}}
    seed1 = {"5-8": {"n": 9, "ned": 0.11}, "9-12": {"n": 9, "ned": 0.31}, "13-16": {"n": 9, "ned": 0.58}}
    v = verdict(rounds, control, loop, seed1)
    assert v["worst_bucket"] == "5-8" and v["rise"] == {"loop": 0.08, "control": 0.02}
    assert v["worst_rises_more"] and v["no_bucket_falls_beyond_spread"] and v["met"]
    assert v["worst_gain_over_control"] == 0.06 and v["worst_gain_beyond_seed_spread"]   # spread 0.01
    loop["13-16"]["ned"] = 0.55                     # falls 0.07, spread is 0.04
    v = verdict(rounds, control, loop, seed1)
    assert v["by_bucket"]["13-16"]["within_spread"] is False and v["met"] is False
    v = verdict(rounds, control, loop, None)       # no second seed: that half is unknown
    assert v["no_bucket_falls_beyond_spread"] is None and "met" not in v


def test_loop_config_errors_name_the_key(tmp_path):
    p = _write(tmp_path, LOOP)
    with pytest.raises(ConfigError, match="rounds.at"):
        load_experiment_config(p, overrides={"rounds": {"count": 2, "at": [3, 7]}})   # before synth
    with pytest.raises(ConfigError, match="tune_fraction"):
        load_experiment_config(p, overrides={"rounds": {"count": 1}, "split": {"tune_fraction": 0.0}})
    with pytest.raises(ConfigError, match="rounds.count"):
        load_experiment_config(p, overrides={"rounds": {"count": 1.5}})
    no_synth = copy.deepcopy(LOOP)
    no_synth["arms"] = {"general": copy.deepcopy(MICRO["arms"]["general"])}
    with pytest.raises(ConfigError, match="needs an arm whose stages mix synth"):
        load_experiment_config(_write(tmp_path, no_synth), overrides={"rounds": {"count": 1}})
    taken = copy.deepcopy(LOOP)
    taken["arms"]["infusion_loop"] = copy.deepcopy(MICRO["arms"]["general"])
    with pytest.raises(ConfigError, match="taken by the closed loop"):
        load_experiment_config(_write(tmp_path, taken), overrides={"rounds": {"count": 1}})
    # the bundled loop config loads, and --quick scales its round steps with everything else
    from test_experiment import REPO

    full = load_experiment_config(REPO / "pipelines" / "configs" / "flywheel_cpu.yaml")
    quick = load_experiment_config(REPO / "pipelines" / "configs" / "flywheel_cpu.yaml", quick=True)
    assert full["rounds"]["at"] == [210, 255] and quick["rounds"]["at"] == [42, 51]
