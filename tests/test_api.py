"""The documented Python API, including the example in the synthesis guide."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def test_renderer_matches_the_synth_job_and_torch_dataset_splits_across_workers(assets, tmp_path):
    import torch
    import webdataset as wds

    import textsynth

    cfg = textsynth.load_config(None, seed=3)
    r = textsynth.Renderer(cfg)
    samples = list(r.iter_samples(0, 12))
    assert [s.index for s in samples] == list(range(12)) and samples[0].image.dtype == np.uint8
    # the same bytes as shard 1 of a synth job with this config (indices 6..11)
    out = tmp_path / "job"
    proc = subprocess.run([str(Path(sys.executable).parent / "textsynth"), "synth", "--out", str(out),
                           "--num-samples", "12", "--samples-per-shard", "6", "--seed", "3", "--quiet"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    shard = list(wds.WebDataset(str(out / "shards" / "synth-000001.tar"), shardshuffle=False).decode("rgb8"))
    for s, w in zip(samples[6:], shard):
        assert np.array_equal(s.image, w["png"]) and s.meta["text"] == w["json"]["text"]

    ds = textsynth.torch_dataset(cfg, num_samples=12)
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)
    items = sorted(loader, key=lambda it: it["index"])
    assert [it["index"] for it in items] == list(range(12))  # each index once, across 2 workers
    assert items[4]["image"].shape == (3, 256, 256) and items[4]["text"] == samples[4].meta["text"]
    assert torch.equal(items[4]["image"], torch.from_numpy(samples[4].image).permute(2, 0, 1))


def test_documented_python_example_runs(assets, tmp_path):
    guide = (REPO / "docs" / "guides" / "synthesis.md").read_text()
    (code,) = re.findall(r"## Python API.*?```python\n(.*?)```", guide, re.S)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
