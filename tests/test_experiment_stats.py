"""Intervals of the experiment (textsynth/experiment/stats.py) on hand numbers and by
simulation, and the report's interval tables on hand-made per-image tables (no training)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from textsynth.experiment import report, stats


def _bench(n: int, rng) -> np.ndarray:
    """Per-image NED of a bench: images differ a lot in difficulty."""
    return np.clip(rng.normal(0.5, 0.25, n), 0, 1)


def test_identical_seeds_add_no_seed_part():
    x = _bench(80, np.random.default_rng(0))
    assert stats.seed_variance([np.stack([x, x, x])]) == (0.0, 2)
    three, one = stats.arm_interval([x, x, x]), stats.arm_interval([x])
    assert (three["lo"], three["hi"]) == (one["lo"], one["hi"])       # the image bootstrap alone
    assert three["n_seeds"] == 3 and three["n_images"] == 80 and three["seed_se"] == 0
    assert not one["seed_part"] and three["lo"] < x.mean() < three["hi"]


def test_seed_part_is_a_t_interval_over_seed_means():
    # every image equal within a run: no image part; seed means 0.48, 0.50, 0.52
    runs = [np.full(50, v) for v in (0.48, 0.50, 0.52)]
    iv = stats.arm_interval(runs, n_boot=40_000)
    half = 4.303 * 0.02 / np.sqrt(3)          # t(2, 0.975) * sd / sqrt(S)
    assert iv["mean"] == pytest.approx(0.50)
    assert iv["hi"] - 0.50 == pytest.approx(half, rel=0.1) and 0.50 - iv["lo"] == pytest.approx(half, rel=0.1)
    # pooled over two such arms the variance is the same, with 4 degrees of freedom
    assert stats.seed_variance([np.stack(runs), np.stack(runs)]) == (pytest.approx(0.0004), 4)


def test_seed_variance_takes_out_the_per_image_noise():
    rng = np.random.default_rng(3)
    x = _bench(400, rng)
    noisy = np.stack([x + rng.normal(0, 0.1, 400) for _ in range(3)])    # no whole-run shift
    var, df = stats.seed_variance([noisy])
    assert df == 2 and var < 0.1 ** 2 / 400          # the raw spread of the means would be ~0.1²/400


def test_a_constant_shift_is_beyond_noise():
    rng = np.random.default_rng(1)
    x = _bench(100, rng)
    control = [x + rng.normal(0, 0.005, 100) for _ in range(3)]
    arm = [x + 0.05 + rng.normal(0, 0.005, 100) for _ in range(3)]
    d = stats.paired_difference(arm, control)
    assert d["diff"] == pytest.approx(0.05, abs=0.003)
    assert 0 < d["lo"] < 0.05 < d["hi"] and d["beyond_noise"]
    assert stats.verdict_text(d) == "beyond noise"
    # paired: the images' spread in difficulty cancels, so the difference is far sharper than either mean
    assert d["half_width"] < 0.2 * (stats.arm_interval(arm)["hi"] - stats.arm_interval(arm)["lo"])
    assert stats.min_detectable(arm, control) == pytest.approx(d["half_width"])


def test_a_symmetric_difference_is_within_noise():
    rng = np.random.default_rng(2)
    x = _bench(100, rng)
    signs = np.where(np.arange(100) % 2, 1.0, -1.0)
    control = [x, x + 0.001, x - 0.001]
    arm = [x + 0.1 * signs + rng.normal(0, 0.01, 100) for _ in range(3)]
    d = stats.paired_difference(arm, control)
    assert d["lo"] < 0 < d["hi"] and not d["beyond_noise"]
    assert stats.verdict_text(d) == f"within noise, interval ±{d['half_width']:.3f}"


def test_intervals_cover_a_known_difference_about_95_percent():
    """200 simulated experiments: 3 seeds per arm, 60 images of varied difficulty, a whole-run
    seed shift, per-image seed noise and a per-image effect around a true difference of 0.03."""
    rng = np.random.default_rng(7)
    true, covered = 0.03, 0
    for k in range(200):
        x = _bench(60, rng)
        effect = true + rng.normal(0, 0.05, 60)     # around `true`: drawing the images is part of the noise
        control = x + rng.normal(0, 0.01, (3, 1)) + rng.normal(0, 0.04, (3, 60))
        arm = x + effect + rng.normal(0, 0.01, (3, 1)) + rng.normal(0, 0.04, (3, 60))
        d = stats.paired_difference(arm, control, n_boot=400, rng_seed=k)
        covered += d["lo"] <= true <= d["hi"]
    assert 0.90 <= covered / 200 <= 0.99


def test_same_rng_seed_same_interval():
    rng = np.random.default_rng(4)
    a, c = rng.random((3, 40)), rng.random((3, 40))
    assert stats.paired_difference(a, c, rng_seed=5) == stats.paired_difference(a, c, rng_seed=5)
    assert stats.arm_interval(a, rng_seed=5) == stats.arm_interval(a, rng_seed=5)
    assert stats.paired_difference(a, c, rng_seed=5)["lo"] != stats.paired_difference(a, c, rng_seed=6)["lo"]


def test_bad_input_is_an_error_saying_what():
    with pytest.raises(ValueError, match="same images"):
        stats.paired_difference(np.zeros((2, 5)), np.zeros((2, 6)))
    with pytest.raises(ValueError, match="no images"):
        stats.arm_interval(np.zeros((2, 0)))
    one = stats.Scores.from_rows([{"bench": "synth", "key": "a", "ned": 0.5}])
    other = stats.Scores.from_rows([{"bench": "synth", "key": "b", "ned": 0.5}])
    with pytest.raises(ValueError, match="other images"):
        stats.align([one, other], "ned")


def _rows(bench: str, n: int, value) -> list[dict]:
    return [{"bench": bench, "key": f"{bench}-{i}", "size_bucket": ("9-12", "13-16", "17-20")[i % 3],
             "lang": ("en", "zh")[i % 2], "ned": value(i), "psnr": 25.0 + i % 2} for i in range(n)]


def test_groups_by_bench_bucket_and_language():
    s = stats.Scores.from_rows(_rows("synth", 12, lambda i: i / 12)
                               + [{"bench": "general", "key": "g0", "psnr": 30.0, "ned": None}])
    got = {(b, g) for b, g, _ in stats.groups(s)}
    assert got == {("synth", "all"), ("synth", "9-12"), ("synth", "13-16"), ("synth", "17-20"),
                   ("synth", "13-20"), ("synth", "lang:en"), ("synth", "lang:zh"), ("general", "all")}
    assert len(s.select(bench="synth", size_bucket="13-20")) == 8
    assert set(s.select(bench="synth", lang="zh").columns["key"]) == {f"synth-{i}" for i in range(1, 12, 2)}
    # NED is not measured on photos: that group has no images for it
    assert stats.align([s.select(bench="general")], "ned").shape == (1, 0)
    assert stats.align([s.select(bench="general")], "psnr").tolist() == [[30.0]]


def _eval_dir(out, run: str, bench: str, rows: list[dict]) -> None:
    d = out / "eval" / run / bench
    d.mkdir(parents=True)
    keep = ("key", "size_bucket", "lang", "ned", "psnr")
    pq.write_table(pa.Table.from_pylist([{k: r[k] for k in keep} for r in rows]), d / "per_image.parquet")


def test_report_renders_intervals_verdicts_and_min_detectable(tmp_path):
    rng = np.random.default_rng(0)
    x = _bench(90, rng)
    runs = []
    for arm, shift, seeds in (("general", 0.0, (0, 1, 2)), ("infusion", 0.08, (0, 1, 2)), ("docs", 0.0, (0,))):
        for s in seeds:
            name = arm if s == 0 else f"{arm}-s{s}"
            runs.append((name, arm, s))
            noise = rng.normal(0, 0.01, 90)
            _eval_dir(tmp_path, name, "synth", _rows("synth", 90, lambda i: float(x[i] + shift + noise[i])))
            _eval_dir(tmp_path, name, "doc", _rows("doc", 30, lambda i: float(x[i] + shift / 2 + noise[i])))
    cfg = {"arms": {"general": {}, "infusion": {}, "docs": {}}, "rounds": {"count": 0}}
    iv = report.intervals(cfg, tmp_path, runs, n_boot=500)
    assert iv["control"] == "general" and iv["seeds"] == {"general": 3, "infusion": 3, "docs": 1}
    assert "degrees of freedom" in iv["seed_part"] and iv["seed_df"]["synth"]["all"] == 4
    g = iv["arms"]["infusion"]["synth"]["13-20"]
    assert g["lo"] < g["mean"] < g["hi"] and g["n_images"] == 60 and g["n_seeds"] == 3
    assert iv["vs_control"]["infusion"]["synth"]["all"]["beyond_noise"]
    assert not iv["vs_control"]["docs"]["synth"]["all"]["beyond_noise"]
    assert set(iv["min_detectable"]["synth"]) >= {"all", "9-12", "13-20", "lang:en"}
    assert {(t["bench"], t["group"]) for t in iv["targets"]} == {("synth", "9-12"), ("synth", "13-20"), ("doc", "all")}
    json.dumps(iv)                                   # results.json can hold it
    md = "\n".join(report.intervals_markdown(iv))
    assert "### Synthetic bench NED: mean [95% interval]" in md and "### Doc bench NED" in md
    assert "| infusion | synth | all | 90 | +0.08" in md and "| beyond noise |" in md
    assert "within noise, interval ±" in md and "### Minimum detectable difference (95%)" in md
    assert "| synth | 13-20 | ±" in md and "≤ 0.02 (" in md


def test_report_with_one_seed_per_arm_says_image_bootstrap_only(tmp_path):
    x = _bench(40, np.random.default_rng(1))
    runs = [("general", "general", 0), ("infusion", "infusion", 0)]
    for name, shift in (("general", 0.0), ("infusion", 0.1)):
        _eval_dir(tmp_path, name, "synth", _rows("synth", 40, lambda i: float(x[i] + shift)))
    cfg = {"arms": {"general": {}, "infusion": {}}, "rounds": {"count": 0}}
    iv = report.intervals(cfg, tmp_path, runs, n_boot=300)
    assert iv["seed_part"].startswith("none: one seed per arm") and "image bootstrap only" in iv["seed_part"]
    d = iv["vs_control"]["infusion"]["synth"]["all"]
    assert d["diff"] == pytest.approx(0.1) and d["lo"] == pytest.approx(0.1) and d["beyond_noise"]
    md = report.markdown({"train": {}}, {}, {}, None, iv)
    assert "image bootstrap only" in md and "## 95% intervals" in md
    # without a seed spread the half-widths understate the noise: the targets are not judged
    assert all(t["met"] is None for t in iv["targets"]) and "(not judged: no seed spread)" in md
    assert report.intervals(cfg, tmp_path / "nothing", runs) is None      # no evals yet: no section


def test_groups_of_too_few_images_get_no_interval():
    rows = _rows("synth", 12, lambda i: i / 12) + [{"bench": "synth", "key": "tiny", "size_bucket": "5-8",
                                                    "lang": "en", "ned": 0.1}]
    arms = {"a": [stats.Scores.from_rows(rows)], "b": [stats.Scores.from_rows(rows)]}
    got = stats.summarise(arms, "a", {"synth": "ned"}, n_boot=100, min_images=4)
    assert got["too_few_images"] == ["synth/5-8 (1)"] and "5-8" not in got["arms"]["a"]["synth"]
    assert got["arms"]["a"]["synth"]["9-12"]["n_images"] == 4
    d = got["vs_control"]["b"]["synth"]["all"]
    assert (d["diff"], d["lo"], d["hi"], d["beyond_noise"]) == (0.0, 0.0, 0.0, False)
