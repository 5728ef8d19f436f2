"""CLI conventions (issue 14.6): --version, numbers checked before work, --set overrides."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BIN = Path(sys.executable).parent


def _ts(*args, cwd=None):
    return subprocess.run([str(BIN / "textsynth"), *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def test_version_and_bad_numbers_are_refused_before_any_work(tmp_path):
    from textsynth import __version__

    assert _ts("--version").stdout.strip() == f"textsynth {__version__}"
    for args in (["render", "--num", "-1"], ["synth", "--num-samples", "0"],
                 ["synth", "--samples-per-shard", "x"], ["curate", "--input", "a", "--num-cpus", "0"],
                 ["eval", "--bench", "b", "--model", "identity", "--limit", "0"],
                 ["train", "--max-steps", "-3"], ["bench", "build", "--input", "a", "--max-pages", "-1"]):
        proc = _ts(*args, "--out", str(tmp_path / "o"))
        assert proc.returncode == 2 and "error: argument" in proc.stderr, (args, proc.stderr)
        assert not (tmp_path / "o").exists()


def test_set_overrides_config_keys_and_names_a_bad_one(assets, tmp_path):
    proc = _ts("render", "--num", "2", "--out", str(tmp_path / "r"), "--set", "canvas.width=128",
               "--set", "text.lang_probs={en: 1.0}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    meta = json.loads((tmp_path / "r" / "render-000000.json").read_text())
    assert meta["width"] == 128 and meta["lang"] == "en"
    proc = _ts("render", "--num", "2", "--out", str(tmp_path / "r2"), "--set", "canvas.widht=128")
    assert proc.returncode == 2 and "unknown config key 'canvas.widht'" in proc.stderr
    proc = _ts("render", "--num", "2", "--out", str(tmp_path / "r3"), "--set", "canvas.width")
    assert proc.returncode == 2 and "--set needs KEY=VALUE" in proc.stderr
    proc = _ts("experiment", "--out", str(tmp_path / "e"), "--set", "synth.num_smples=3")
    assert proc.returncode == 2 and "unknown config key 'synth.num_smples'" in proc.stderr
    assert not (tmp_path / "e").exists()


def test_a_missing_extra_names_the_pip_install(monkeypatch):
    """Issue 14.2: optional parts fail with the extra to install, not a bare ImportError."""
    import pytest

    from textsynth.extras import MissingExtra
    from textsynth.ocr import _import_paddleocr

    monkeypatch.setitem(sys.modules, "paddleocr", None)  # import paddleocr -> ImportError
    with pytest.raises(MissingExtra, match=r"pip install 'textsynth-engine\[curate\]'"):
        _import_paddleocr()
    monkeypatch.setitem(sys.modules, "torch", None)
    from textsynth.cli import main

    assert main(["train", "--config", "x.yaml", "--out", "y"]) == 2


def test_render_writes_fpng_unless_the_config_or_set_chooses(assets, tmp_path):
    """A preview folder favours speed (fpng); a config file or --set naming the encoder wins."""
    import cv2

    from textsynth.synthesis.render import encode

    (tmp_path / "zlib.yaml").write_text("output: {png_encoder: zlib}\n")
    runs = {"default": [], "set": ["--set", "output.png_encoder=zlib"],
            "config": ["--config", str(tmp_path / "zlib.yaml")]}
    pngs = {}
    for name, extra in runs.items():
        proc = _ts("render", "--num", "2", "--out", str(tmp_path / name), *extra)
        assert proc.returncode == 0, proc.stderr[-2000:]
        pngs[name] = (tmp_path / name / "render-000000.png").read_bytes()
    def rgb(png):
        return cv2.cvtColor(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)

    assert pngs["default"] == encode(rgb(pngs["default"]), "png", png_encoder="fpng")
    assert pngs["set"] == encode(rgb(pngs["default"]), "png", png_level=1, png_encoder="zlib") != pngs["default"]
    assert pngs["config"] == encode(rgb(pngs["config"]), "png", png_level=1, png_encoder="zlib")


def _set_example(command: str) -> list[str]:
    """The ``--set KEY=VALUE`` pairs that ``textsynth COMMAND --help`` gives as its example."""
    wide = {**os.environ, "COLUMNS": "10000"}   # one line per option: no wrapping mid-example
    help_text = subprocess.run([str(BIN / "textsynth"), command, "--help"], capture_output=True,
                               text=True, timeout=300, env=wide, check=True).stdout
    line = next(ln for ln in help_text.splitlines() if ln.lstrip().startswith("--set KEY=VALUE"))
    words = shlex.split(line.split("e.g. ", 1)[1])         # as a shell would pass them
    assert words[::2] == ["--set"] * (len(words) // 2) and len(words) >= 2, line
    return words[1::2]


def _load_synth(over):
    from textsynth.config import load_config
    return load_config(None, **over)


def _load_curate(over):
    from textsynth.curation.config import load_curate_config
    return load_curate_config(None, **over)


def _load_train(over):
    from textsynth.vae.config import load_train_config
    return load_train_config(None, over)


def _load_experiment(over):
    from textsynth.experiment import load_experiment_config
    return load_experiment_config(None, overrides=over)


@pytest.mark.parametrize("command, load", [("render", _load_synth), ("synth", _load_synth),
                                           ("curate", _load_curate), ("train", _load_train),
                                           ("experiment", _load_experiment)])
def test_each_set_example_in_help_is_a_key_of_that_commands_config(command, load):
    """A user copying the --help example gets an accepted override, not 'unknown config key'."""
    from textsynth.config import parse_sets

    sets = _set_example(command)
    cfg = load(parse_sets(sets))
    for item in sets:                             # each override reached the loaded config
        key, value = item.split("=", 1)
        node = cfg
        for part in key.split("."):
            node = node[part]
        want = parse_sets([f"value={value}"])["value"]
        assert node == want, (item, node)
