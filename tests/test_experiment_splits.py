"""Experiment splits: the base model's photos do not depend on whether the loop is on, so
experiments with and without ``--rounds`` share one cached base."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from textsynth.experiment.config import load_experiment_config
from textsynth.experiment.splits import make_splits


def _photos(root: Path, n: int) -> Path:
    root.mkdir(parents=True)
    for i in range(n):
        img = np.full((32, 32, 3), i * 7 % 256, np.uint8)      # distinct contents: no dedup
        cv2.imwrite(str(root / f"photo-{i:03d}.png"), img)
    return root


def test_base_photos_are_the_same_with_and_without_the_loop(assets, tmp_path):
    photos = _photos(tmp_path / "photos", 60)
    common = {"inputs": {"photos": [str(photos)]},
              "split": {"bench_fraction": 0.25, "tune_fraction": 0.15,
                        "bench_documents": ["latex_ctex-faq_ctex-faq.pdf"]}}
    sides = {}
    for rounds in (0, 2):
        cfg = load_experiment_config(overrides={**common, "rounds": {"count": rounds}})
        dest = tmp_path / f"rounds{rounds}"
        m = make_splits(cfg, dest)
        sides[rounds] = {side: sorted(p.name for p in (dest / rel).iterdir()) for side, rel in m["photos"].items()}
    off, on = sides[0], sides[2]
    assert "tune" not in off and on["tune"]                    # only the loop carves a tune side
    assert off["base"] == on["base"] == on["train"]            # the base never sees tune photos ...
    assert set(off["train"]) == set(on["train"]) | set(on["tune"])   # ... the arms without the loop do
    assert off["bench"] == on["bench"]
    assert not set(on["base"]) & (set(on["tune"]) | set(on["bench"]))
