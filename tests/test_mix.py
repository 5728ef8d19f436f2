"""`textsynth mix suggest`: real eval results of a synthetic bench steer the synthesis weights."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from textsynth import paths
from textsynth.config import load_config
from textsynth.mix import bounded_update, suggest

BIN = Path(sys.executable).parent
SYNTH = str(paths.packaged_config("synth_en_zh.yaml"))


def test_bounded_update_moves_towards_low_ned_within_bounds():
    w = {"5-8": 0.25, "9-12": 0.25, "13-16": 0.25, "17-20": 0.25}
    ned = {"5-8": 0.09, "9-12": 0.29, "13-16": 0.60, "17-20": 0.70}
    rounds = [w]
    for _ in range(4):
        rounds.append(bounded_update(rounds[-1], ned, rate=4.0, step=0.10, floor=0.05))
    for old, new in zip(rounds, rounds[1:]):
        assert sum(new.values()) == pytest.approx(1.0, abs=1e-3)
        assert all(abs(new[g] - old[g]) <= 0.10 + 1e-3 and new[g] >= 0.05 - 1e-3 for g in w)
        assert new["5-8"] > old["5-8"] and new["17-20"] <= old["17-20"]
    assert rounds[1]["5-8"] == pytest.approx(0.35, abs=1e-3)          # capped at +step
    assert 0.05 - 1e-3 <= min(rounds[-1].values()) < 0.07                # down to the floor, not below
    # a group the eval did not see keeps its weight; equal NED changes nothing
    assert bounded_update(w, {"5-8": 0.5, "9-12": 0.5}, 4.0, 0.1, 0.05) == w


def test_suggest_from_a_real_eval(assets, tmp_path):
    from textsynth.shards import filesystem, pack, publish
    from textsynth.synthesis.generate import Stats, make_sample
    from textsynth.synthesis.recipe import Skip
    from textsynth.synthesis.render import encode
    from textsynth.synthesis.resources import Resources

    res, samples, i = Resources(load_config(SYNTH, seed=31)), [], 0
    while len(samples) < 16:
        try:
            img, meta = make_sample(res, 31, i, Stats())
            samples.append((f"s-{i:06d}", f"s-{i:06d}.png", encode(img, "png"), meta))
        except Skip:
            pass
        i += 1
    fs, root = filesystem(str(tmp_path / "bench"))
    publish(fs, root, "s-000000", *pack(samples), len(samples))
    ev = tmp_path / "eval"
    r = subprocess.run([str(BIN / "textsynth"), "eval", "--quiet", "--bench", str(tmp_path / "bench"),
                        "--model", "jpeg-q20", "--out", str(ev), "--lpips", "none"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    metrics = json.loads((ev / "metrics.json").read_text())
    buckets = metrics["by_size_bucket"]

    out = tmp_path / "next.yaml"
    r = subprocess.run([str(BIN / "textsynth"), "mix", "suggest", "--eval", str(ev), "--config", SYNTH,
                        "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    new = load_config(out)["size"]["bucket_probs"]
    old = load_config(SYNTH)["size"]["bucket_probs"]
    worst = min(buckets, key=lambda b: buckets[b]["ned"])
    best = max(buckets, key=lambda b: buckets[b]["ned"])
    assert new[worst] > old[worst] and new[best] < old[best]
    assert all(abs(new[b] - old[b]) <= 0.10 + 1e-3 and new[b] >= 0.05 for b in old)
    for b in set(old) - set(buckets):
        assert new[b] == pytest.approx(old[b], abs=1e-3)       # not evaluated: unchanged
    report = out.with_suffix(".md").read_text()
    assert "## size.bucket_probs (by size bucket)" in report and f"| {worst} |" in report
    assert "below the mean NED" in report
    # the rest of the user's config is kept as written
    assert yaml.safe_load(out.read_text())["layout"] == yaml.safe_load(Path(SYNTH).read_text())["layout"]


def _metrics(d: Path, bench: str, ned: bool = True) -> Path:
    d.mkdir(parents=True)
    overall = {"n": 4, "psnr": 30.0, **({"ned": 0.5} if ned else {})}
    (d / "metrics.json").write_text(json.dumps({"model": "m", "bench": bench, "overall": overall,
                                                "by_size_bucket": {"5-8": {"n": 4, **overall}}}))
    return d


def test_suggest_refuses_results_it_cannot_use(tmp_path):
    a, b = _metrics(tmp_path / "a", "benches/synth"), _metrics(tmp_path / "b", "benches/other")
    with pytest.raises(ValueError, match="suggest from evals of one bench"):
        suggest([str(a), str(b)], SYNTH, str(tmp_path / "x.yaml"))
    with pytest.raises(FileNotFoundError, match="run `textsynth eval` first"):
        suggest([str(tmp_path / "nothing")], SYNTH, str(tmp_path / "x.yaml"))
    c = _metrics(tmp_path / "c", "benches/photos", ned=False)
    with pytest.raises(ValueError, match="no NED"):
        suggest([str(c)], SYNTH, str(tmp_path / "x.yaml"))
    assert not (tmp_path / "x.yaml").exists()
