"""The text-infusion experiment (issue 12), end to end on a micro config.

Real engine output (a synth job and a curate job on an embedded Ray), real PP-OCRv5 on the
benches, real training of the tiny VAE for a few steps; only the sizes are small. The
reference models pin what NED means: the identity reconstruction reads 1.0, a flat grey one
~0.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from textsynth.config import ConfigError
from textsynth.experiment import load_experiment_config
from textsynth.experiment.config import DEFAULTS

REPO = Path(__file__).resolve().parents[1]
TEXTSYNTH = Path(sys.executable).parent / "textsynth"

MICRO = {
    "seed": 0,
    "split": {"bench_fraction": 0.25,
              "bench_documents": ["latex_ctex-faq_ctex-faq.pdf", "xelatex_nanicolle_nanicolle-doc-en.pdf"]},
    "synth": {"set": {"canvas": {"width": 96, "height": 96}, "layout": {"lines": [2, 4], "margin": 4}},
              "num_samples": 40, "samples_per_shard": 20},
    "curate": {"set": {"ingest": {"pdf_pages": "5"}, "crop": {"sizes": [256]}}},
    "bench": {"doc": {"max_pages": 8, "max_candidates": 14}, "synth": {"num_samples": 8},
              "general": {"crops_per_photo": 1, "side": 128}},
    "train": {"model": {"name": "tiny"},
              "loss": {"lpips": {"weight": 0.0}, "align": {"weight": 0.0}},
              "data": {"resolution": 32, "batch_size": 4, "num_workers": 0, "shuffle_buffer": 10},
              "train": {"max_steps": 6, "lr": 1e-3, "warmup_steps": 1, "log_every": 2,
                        "sample_every": 0, "ckpt_every": 3, "cpu_threads": 1}},
    "arms": {"general": {"stages": [{"start": 0, "mix": {"general": 1.0}}]},
             "infusion": {"general_share": 0.5,
                          "stages": [{"start": 0, "mix": {"general": 1.0}},
                                     {"start": 2, "mix": {"general": 1.0, "doc": 1.0}},
                                     {"start": 4, "mix": {"general": 1.0, "doc": 0.5, "synth": 0.5},
                                      "size_buckets": [{"start": 4, "buckets": ["17-20", "13-16"]}]}]}},
    "eval": {"references": ["identity", "grey"], "curve_every": 3, "curve_images": 2, "grid_images": 2},
}


def _write(tmp_path: Path, cfg: dict) -> Path:
    p = tmp_path / "micro.yaml"
    p.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return p


def _run(cfg_path: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(TEXTSYNTH), "experiment", "--config", str(cfg_path), "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=900, cwd=REPO)


@pytest.fixture(scope="module")
def micro(micro_data):
    # in two invocations, as after an interruption (the first, --only data, is micro_data in
    # conftest.py): the second skips what the first finished
    cfg, out = micro_data
    proc = _run(cfg, out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert "stage synth: done before, skipped" in proc.stderr
    return cfg, out, proc


def test_results_have_every_arm_bench_and_bucket(micro):
    _, out, proc = micro
    res = json.loads((out / "results.json").read_text())
    models = res["models"]
    assert set(models) == {"general", "infusion", "ref:identity", "ref:grey"}
    for name in ("general", "infusion"):
        m = models[name]
        assert m["steps"] == 6 and m["images"] == 24 and m["parameters"] > 0
        assert set(m["benches"]) == {"doc", "synth", "general"}
        assert [p["step"] for p in m["curve"]] == [3, 6]
        assert all(0 <= p["synth_ned"] <= 1 for p in m["curve"])
    synth_buckets = set(models["general"]["benches"]["synth"]["by_size_bucket"])
    assert synth_buckets and synth_buckets <= {"5-8", "9-12", "13-16", "17-20"}
    # NED comes from OCR of reconstructions: the identity reads everything, grey nothing.
    for bench in ("doc", "synth"):
        assert models["ref:identity"]["benches"][bench]["overall"]["ned"] == 1.0
        assert models["ref:grey"]["benches"][bench]["overall"]["ned"] < 0.1
        for b in models["general"]["benches"][bench]["by_size_bucket"].values():
            assert 0 <= b["ned"] <= 1
    assert models["ref:identity"]["benches"]["general"]["overall"]["psnr"] == 100.0
    assert "ned" not in models["general"]["benches"]["general"]["overall"]   # photos: no OCR
    for f in ("results.md", "recon_grid.png", "curves.png"):
        assert (out / f).stat().st_size > 0
    assert "Synthetic bench" in (out / "results.md").read_text()
    # the benches are read in line mode (eval.ned's default): boxes fixed on the originals
    assert res["config"]["ned_mode"] == "lines" and "NED: line mode" in (out / "results.md").read_text()
    # a run's config.yaml is a valid trainer config again (to rerun one arm by hand)
    from textsynth.vae.config import load_train_config

    assert load_train_config(out / "runs" / "infusion" / "config.yaml")["seed"] == 0


def test_benches_share_nothing_with_training(micro):
    _, out, _ = micro
    splits = json.loads((out / "data" / "splits.json").read_text())
    assert splits["counts"]["documents"]["bench"] == MICRO["split"]["bench_documents"]
    assert splits["counts"]["photos"]["train"] > 0 and splits["counts"]["photos"]["bench"] > 0
    for lang in ("en", "zh"):
        train = set((out / "data" / splits["corpora"][lang]["train"]).read_text().splitlines())
        bench = set((out / "data" / splits["corpora"][lang]["bench"]).read_text().splitlines())
        assert train and bench and not train & bench


def test_rerun_skips_finished_stages(micro):
    cfg, out, _ = micro
    before = (out / "results.json").read_text()
    proc = _run(cfg, out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "done before, skipped" in proc.stderr and "stage train/general: running" not in proc.stderr
    assert json.loads((out / "results.json").read_text())["models"] == json.loads(before)["models"]


def test_a_bench_overlapping_training_is_an_error_naming_the_file(micro, tmp_path):
    from textsynth.experiment.run import _general_bench
    from textsynth.experiment.splits import OverlapError, check_no_overlap

    _, out, _ = micro
    cfg = load_experiment_config(micro[0])
    train_photos = out / "data" / "photos" / "train"
    leaked = tmp_path / "leaked"
    _general_bench(cfg, str(train_photos), leaked)     # a "held-out" set cut from training photos
    with pytest.raises(OverlapError, match=str(train_photos)):
        check_no_overlap({"photos": str(train_photos)}, {"general": leaked})


def test_arms_with_a_different_budget_are_an_error_naming_the_arm(tmp_path):
    bad = json.loads(json.dumps(MICRO))
    bad["arms"]["infusion"]["max_steps"] = 12
    with pytest.raises(ConfigError, match="arms.infusion"):
        load_experiment_config(_write(tmp_path, bad))
    bad = json.loads(json.dumps(MICRO))
    bad["arms"]["infusion"]["stages"][0]["resolution"] = 64
    with pytest.raises(ConfigError, match="arm 'infusion'"):
        load_experiment_config(_write(tmp_path, bad))
    bad = json.loads(json.dumps(MICRO))
    bad["arms"]["general"]["stages"][0]["mix"] = {"photos": 1.0}
    with pytest.raises(ConfigError, match="arms.general: unknown sources"):
        load_experiment_config(_write(tmp_path, bad))


def test_bundled_configs_load_and_quick_scales_every_step_count():
    assert set(DEFAULTS) >= {"arms", "train", "bench", "split"}
    full = load_experiment_config(REPO / "pipelines" / "configs" / "ablation_cpu.yaml")
    quick = load_experiment_config(REPO / "pipelines" / "configs" / "ablation_cpu.yaml", quick=True)
    k = quick["train"]["train"]["max_steps"] / full["train"]["train"]["max_steps"]
    assert k < 1
    for arm in full["arms"]:
        for a, b in zip(full["arms"][arm]["stages"], quick["arms"][arm]["stages"]):
            assert b["start"] == round(a["start"] * k)
    load_experiment_config(REPO / "pipelines" / "configs" / "ablation_gpu.yaml")


def test_stored_reconstructions_are_checked(tmp_path):
    import numpy as np

    from textsynth.evaluation.references import load

    with pytest.raises(ValueError, match="no reconstructions dir"):
        load(f"recon:{tmp_path / 'missing'}")
    img = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="k1.png"):
        load(f"recon:{tmp_path}")(img, "k1")
    assert load("grey")(img).max() == 128
