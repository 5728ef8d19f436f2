"""`textsynth config show|schema|validate` and the typed schemas behind every config: each
shipped config validates under the kind told from its keys, a bad key is named with its file,
`show` prints a config that loads back to the same thing, and the JSON Schema accepts what
the loaders accept and refuses what they refuse."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from textsynth import config_tool
from textsynth.schema import defaults, reference_rows

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SHIPPED = sorted((REPO / "pipelines" / "configs").glob("*.yaml"))
KIND_OF = {"synth_en_zh": "synth", "synth_docs": "synth", "synth_real": "synth", "curate_docs": "curate",
           "curate_demo": "curate", "vae_tiny_cpu": "train", "vae_f16c64_text_infusion": "train",
           "ablation_cpu": "experiment", "flywheel_cpu": "experiment"}


def textsynth(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "textsynth"), "config", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def test_every_shipped_config_validates_under_the_kind_its_keys_tell():
    r = textsynth("validate", *map(str, SHIPPED))
    assert r.returncode == 0, r.stderr
    said = dict(line.rsplit(": a valid ", 1) for line in r.stdout.splitlines())
    assert len(said) == len(SHIPPED)
    for path, kind in said.items():
        name = Path(path).stem
        assert kind.removesuffix(" config") == KIND_OF.get(name, kind.removesuffix(" config"))
        if name.startswith("question_"):
            assert kind == "experiment config"


def test_a_bad_key_is_named_with_its_file_and_nothing_runs(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("canvas: {width: 320}\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("canvas: {width: 320}\ngeometry: {prob: .nan}\n")
    typo = tmp_path / "typo.yaml"
    typo.write_text("ingest: {pdf_dpi: 96}\ncrop: {sizez: [256]}\n")
    r = textsynth("validate", str(good), str(bad), str(typo))
    assert r.returncode == 2
    assert f"{good}: a valid synth config" in r.stdout
    assert f"{bad}: config key 'geometry.prob' must be a finite number" in r.stderr
    assert f"{typo}: unknown config key 'crop.sizez'" in r.stderr
    # a file whose keys fit no kind, or several, asks for --kind
    vague = tmp_path / "vague.yaml"
    vague.write_text("output: {format: jpg}\n")
    r = textsynth("validate", str(vague))
    assert r.returncode == 2 and "--kind" in r.stderr
    assert textsynth("validate", "--kind", "curate", str(vague)).returncode == 0


def test_show_prints_every_key_and_loads_back_the_same(tmp_path):
    r = textsynth("show", "pipelines/configs/synth_real.yaml", "--set", "canvas.width=320")
    assert r.returncode == 0, r.stderr
    shown = yaml.safe_load(r.stdout)
    assert shown["canvas"]["width"] == 320
    assert set(shown) == set(config_tool.model("synth").model_fields)     # every section, defaults too
    again = tmp_path / "shown.yaml"
    again.write_text(r.stdout)
    assert config_tool.load("synth", again) == shown
    # curate, train and experiment configs resolve the same way
    for kind, name in (("curate", "curate_docs"), ("train", "vae_tiny_cpu"), ("experiment", "ablation_cpu")):
        r = textsynth("show", f"pipelines/configs/{name}.yaml")
        assert r.returncode == 0, (kind, r.stderr)
        assert set(config_tool.model(kind).model_fields) <= set(yaml.safe_load(r.stdout))


@pytest.mark.parametrize("kind", config_tool.KINDS)
def test_the_json_schema_agrees_with_the_loader(kind, tmp_path):
    out = tmp_path / f"{kind}.schema.json"
    r = textsynth("schema", kind, "--out", str(out))
    assert r.returncode == 0, r.stderr
    schema = json.loads(out.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    check = jsonschema.Draft202012Validator(schema)
    check.validate(defaults(config_tool.model(kind)))                      # the defaults pass
    for name, k in KIND_OF.items():                                        # so do shipped configs
        if k == kind:
            check.validate(config_tool.load(kind, REPO / "pipelines" / "configs" / f"{name}.yaml"))
    # a key the schema does not know, and a number out of range, fail in an editor too
    bad = defaults(config_tool.model(kind))
    bad["no_such_key"] = 1
    assert not check.is_valid(bad)
    bad = defaults(config_tool.model(kind))
    bad["seed"] = -1
    assert not check.is_valid(bad)


def test_the_reference_has_every_key_with_its_help():
    for kind in config_tool.KINDS:
        rows = reference_rows(config_tool.model(kind))
        assert rows, kind
        missing = [k for k, _, _, _, help_ in rows if not help_.strip()]
        assert not missing, f"{kind} keys without help: {missing}"
    keys = {k for k, *_ in reference_rows(config_tool.model("synth"))}
    assert {"canvas.width", "text.sample_lang_probs", "output.min_yield"} <= keys


def test_schema_needs_no_extra_and_a_train_config_names_the_one_it_needs(tmp_path):
    """As on a core install: no torch. The schema prints; checking a trainer config (its model
    preset is checked with the model code) stops with the pip line, not a traceback."""
    block = "import sys; sys.modules['torch'] = None; from textsynth.cli import main; sys.exit(main())"
    run = [sys.executable, "-c", block, "config"]
    r = subprocess.run([*run, "schema", "train"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 0 and json.loads(r.stdout)["title"] == "TrainConfig", r.stderr
    r = subprocess.run([*run, "validate", str(REPO / "pipelines/configs/vae_tiny_cpu.yaml"),
                        str(REPO / "pipelines/configs/synth_real.yaml")],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "pip install 'textsynth-engine[train]'" in r.stderr
    assert "synth_real.yaml: a valid synth config" in r.stdout
