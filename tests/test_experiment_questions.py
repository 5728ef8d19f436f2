"""The question configs (a)-(d) of the experiment: each a config in pipelines/configs/ that
extends or matches ablation_cpu.yaml, so every one forks from the same cached base; ``extends``
and ``synth.variants`` are what make them short."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from textsynth.config import ConfigError
from textsynth.experiment import base as base_model
from textsynth.experiment import load_experiment_config
from textsynth.experiment.config import base_trainer_config, variant_set

CONFIGS = Path(__file__).resolve().parents[1] / "pipelines" / "configs"
QUESTIONS = {"a": "ablation_cpu.yaml", "b": "question_templates_cpu.yaml",
             "c": "question_dose_cpu.yaml", "d": "flywheel_cpu.yaml", "e": "question_real_cpu.yaml"}


def _key(cfg: dict, general: dict) -> str:
    return base_model.key_of(base_model.key_inputs(base_trainer_config(cfg, general), cfg["base"]["steps"]))


@pytest.mark.parametrize("quick", [False, True])
def test_every_question_shares_one_base(tmp_path, quick):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.jpg").write_bytes(b"one photo")
    general = {"paths": [str(photos)], "role": "general"}
    cfgs = {q: load_experiment_config(CONFIGS / name, quick=quick) for q, name in QUESTIONS.items()}
    assert len({_key(c, general) for c in cfgs.values()}) == 1
    for q, cfg in cfgs.items():
        assert cfg["control"] in cfg["arms"] or cfg["rounds"]["count"], q
        assert all(len(a["seeds"]) >= (2 if quick else 3) for a in cfg["arms"].values()), q
    # (b): the templates arm mixes the variant where the blocks arm mixes synth; nothing else differs
    b = cfgs["b"]
    blocks, templates = (b["arms"][n]["stages"][-1] for n in ("blocks", "templates"))
    assert templates["mix"] == {"general": 1.0, "doc": 0.5, "templates": 0.5}
    assert blocks["mix"] == {"general": 1.0, "doc": 0.5, "synth": 0.5}
    assert variant_set(b, "templates")["canvas"] == b["synth"]["set"]["canvas"]      # synth.set kept
    assert variant_set(b, "templates")["layout"]["lines"] == [3, 8]
    assert "dense" in variant_set(b, "templates")["layout"]["template_probs"]
    # (c): synthetic text is 25 / 50 / 75% of the text half
    doses = {n: a["stages"][-1]["mix"]["synth"] / (a["stages"][-1]["mix"]["synth"] + a["stages"][-1]["mix"]["doc"])
             for n, a in cfgs["c"]["arms"].items()}
    assert doses == {"synth25": 0.25, "synth50": 0.5, "synth75": 0.75}
    # (e): the real arm mixes the real variant where the templates arm mixes templates, and
    # both are read on a scene bench made with synth_real.yaml
    e = cfgs["e"]
    assert e["arms"]["real"]["stages"][-1]["mix"] == {"general": 1.0, "doc": 0.5, "real": 0.5}
    assert e["arms"]["templates"]["stages"][-1]["mix"] == {"general": 1.0, "doc": 0.5, "templates": 0.5}
    assert variant_set(e, "real")["geometry"]["prob"] > 0 and "vertical" in variant_set(e, "real")["layout"]["template_probs"]
    assert e["bench"]["scene"]["config"].endswith("synth_real.yaml") and e["bench"]["scene"]["num_samples"] > 0
    assert all(c["bench"]["scene"]["num_samples"] == 0 for q, c in cfgs.items() if q != "e")


def _yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def test_extends_overrides_and_refuses_cycles(tmp_path):
    parent = _yaml(tmp_path / "parent.yaml", {"extends": str(CONFIGS / "ablation_cpu.yaml"), "seed": 5})
    child = _yaml(tmp_path / "child.yaml", {"extends": str(parent), "control": "solo",
                                            "arms": {"solo": {"stages": [{"start": 0, "mix": {"general": 1.0}}]}}})
    cfg = load_experiment_config(child)
    assert cfg["seed"] == 5 and list(cfg["arms"]) == ["solo"]            # arms replaced wholesale
    assert cfg["base"]["steps"] == 60                                    # the grandparent's
    _yaml(tmp_path / "loop-a.yaml", {"extends": str(tmp_path / "loop-b.yaml")})
    _yaml(tmp_path / "loop-b.yaml", {"extends": str(tmp_path / "loop-a.yaml")})
    with pytest.raises(ConfigError, match="cycle"):
        load_experiment_config(tmp_path / "loop-a.yaml")
    with pytest.raises(ConfigError, match="extends must be a config path"):
        load_experiment_config(_yaml(tmp_path / "bad.yaml", {"extends": 3}))
    with pytest.raises(ConfigError, match="config file not found"):
        load_experiment_config(_yaml(tmp_path / "gone.yaml", {"extends": str(tmp_path / "nothing.yaml")}))


@pytest.mark.parametrize("variants, arm_mix, message", [
    ({"synth": {"set": {}}}, None, "must be a new source name"),
    ({"bad name": {"set": {}}}, None, "must be a new source name"),
    ({"t": {"layout": {}}}, None, r"synth.variants.t must be \{set"),
    ({"t": {"set": {"layout": {"no_such_key": 1}}}}, None, "synth.variants.t.set over synth.config"),
    ({}, {"general": 1.0, "t": 1.0}, "more synthetic ones: synth.variants"),
])
def test_variant_errors_name_the_key(variants, arm_mix, message):
    over = {"synth": {"variants": variants}}
    if arm_mix:
        over.update(control="x", arms={"x": {"stages": [{"start": 0, "mix": arm_mix}]}})
    with pytest.raises(ConfigError, match=message):
        load_experiment_config(CONFIGS / "ablation_cpu.yaml", overrides=over)


def test_a_scene_bench_is_a_synth_job_of_its_own_config_on_the_bench_split(micro_data, tmp_path):
    """bench.scene: synth_real.yaml (its pages, scenes, turned text) on the held-out photos and
    lines, checked for overlap with training like the synthetic bench."""
    import json
    import tarfile

    from test_experiment import MICRO, _run, _write
    from test_experiment_base import _second_experiment

    cfg = {**MICRO, "bench": {**MICRO["bench"], "scene": {
        "config": "pipelines/configs/synth_real.yaml", "num_samples": 8,
        "set": {"canvas": {"width": 96, "height": 96}}}}}
    out = tmp_path / "out"
    _second_experiment(micro_data[1], out)
    proc = _run(_write(tmp_path, cfg), out, "--only", "data")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert "stage bench-synth: done before, skipped" in proc.stderr
    assert "stage bench-scene: done in" in proc.stderr and "stage overlap-scene: done in" in proc.stderr
    metas = []
    for shard in sorted((out / "benches" / "scene" / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            metas += [json.loads(tar.extractfile(m).read()) for m in tar.getmembers() if m.name.endswith(".json")]
    assert len(metas) == 8 and any(m["recipe"]["version"] == 3 for m in metas)
    made = yaml.safe_load((out / "benches" / "scene" / "config.yaml").read_text())
    bench = yaml.safe_load((out / "benches" / "synth" / "config.yaml").read_text())
    side = lambda paths: [Path(p).parts[-3:] for p in paths]  # noqa: E731
    assert side(made["background"]["dirs"]) == side(bench["background"]["dirs"])   # held-out photos
    assert made["geometry"]["prob"] > 0                                            # synth_real's own keys


def test_a_scene_bench_needs_its_config(tmp_path):
    base = str(CONFIGS / "ablation_cpu.yaml")
    with pytest.raises(ConfigError, match="bench.scene.config must name"):
        load_experiment_config(_yaml(tmp_path / "a.yaml", {"extends": base, "bench": {"scene": {"num_samples": 10}}}))
    with pytest.raises(ConfigError, match="bench.scene.set over bench.scene.config"):
        load_experiment_config(_yaml(tmp_path / "b.yaml", {"extends": base, "bench": {"scene": {
            "num_samples": 10, "config": "pipelines/configs/synth_real.yaml", "set": {"geometry": {"prob": 7}}}}}))


def test_a_variant_is_its_own_synth_job_on_the_training_split(micro_data, tmp_path):
    """A synth.variants entry runs the experiment's synth job once more with its overrides
    (real Ray, real rendering) into data/synth-NAME, proven free of bench overlap like synth."""
    import json
    import tarfile

    from test_experiment import MICRO, _run, _write
    from test_experiment_base import _second_experiment

    cfg = {**MICRO, "synth": {**MICRO["synth"], "variants": {"dense": {"set": {"layout": {
        "template_probs": {"dense": 1.0}}}}}}}
    cfg["arms"] = {**MICRO["arms"], "dense": {"general_share": 0.5, "stages": [
        {"start": 0, "mix": {"general": 1.0}},
        {"start": 4, "mix": {"general": 1.0, "dense": 1.0}, "bucket_sources": ["dense"],
         "size_buckets": [{"start": 4, "buckets": ["17-20", "13-16"]}]}]}}
    out = tmp_path / "out"
    _second_experiment(micro_data[1], out)        # the micro data and benches, made once per session
    proc = _run(_write(tmp_path, cfg), out, "--only", "data")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert "stage synth: done before, skipped" in proc.stderr
    assert "stage synth-dense: done in" in proc.stderr and "stage overlap-dense: done in" in proc.stderr
    metas = []
    for shard in sorted((out / "data" / "synth-dense" / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            metas += [json.loads(tar.extractfile(m).read()) for m in tar.getmembers() if m.name.endswith(".json")]
    assert len(metas) == MICRO["synth"]["num_samples"]
    assert {m["template"] for m in metas} == {"dense"}
    # the variant draws on the training split only: its config names the same sides as synth's
    made = yaml.safe_load((out / "data" / "synth-dense" / "config.yaml").read_text())
    base = yaml.safe_load((out / "data" / "synth" / "config.yaml").read_text())
    side = lambda paths: [Path(p).parts[-3:] for p in paths]  # noqa: E731  (data/SPLIT/SIDE...)
    assert side(made["background"]["dirs"]) == side(base["background"]["dirs"])
    assert {k: side(v) for k, v in made["text"]["corpora"].items()} == \
        {k: side(v) for k, v in base["text"]["corpora"].items()}


def test_an_experiment_started_before_a_new_default_key_still_resumes():
    """A config written by an older textsynth lacks keys added since (bench.scene): at their
    defaults they change nothing, so resuming is allowed; any other difference is refused."""
    import copy

    from textsynth.experiment.run import _same_up_to_new_defaults

    new = load_experiment_config(CONFIGS / "question_templates_cpu.yaml")
    old = copy.deepcopy(new)
    del old["bench"]["scene"]
    assert _same_up_to_new_defaults(old, new)
    changed = copy.deepcopy(new)
    changed["bench"]["scene"]["num_samples"] = 10
    assert not _same_up_to_new_defaults(old, changed)
    other = copy.deepcopy(old)
    other["seed"] = 99
    assert not _same_up_to_new_defaults(other, new)
    assert not _same_up_to_new_defaults({**old, "gone": 1}, new)
