"""Capture degradations: recorded steps within the per-size caps, applied last, labels
untouched, re-rendered bit for bit; off by default."""

from __future__ import annotations

import copy

import cv2
import numpy as np
import pytest

from textsynth import paths
from textsynth.config import ConfigError, load_config
from textsynth.synthesis import degrade
from textsynth.synthesis.generate import Stats, make_sample
from textsynth.synthesis.render import render
from textsynth.synthesis.resources import Resources

DOCS = paths.packaged_config("synth_docs.yaml")


def test_steps_stay_within_the_caps_of_their_size_bucket(assets):
    res = Resources(load_config(DOCS, degrade={"prob": 1.0}, background={"mode_probs": {"paper": 1, "plain": 1}}))
    seen = set()
    for i in range(20):
        img, meta = make_sample(res, 13, i, Stats())
        recipe = meta["recipe"]
        steps = recipe.get("degrade", [])
        lo = res.cfg["size"]["buckets"][meta["size_bucket"]][0]
        cap = degrade.caps(lo, 1.0)
        for s in steps:
            seen.add(s["kind"])
            if s["kind"] == "defocus":
                assert 0 < s["sigma"] <= cap["defocus"]
            if s["kind"] == "motion":
                assert 1 <= s["length"] <= max(1.0, cap["motion"])
            if s["kind"] == "jpeg":
                assert cap["jpeg"] <= s["quality"] <= 95
            if s["kind"] == "bleed":
                assert recipe["background"]["mode"] == "paper"
        again, meta2 = render(res, recipe)
        assert (again == img).all() and meta2["lines"] == meta["lines"]
        if steps:   # the same sample without its steps: same labels, other pixels
            plain = copy.deepcopy(recipe)
            del plain["degrade"]
            clean, meta3 = render(res, plain)
            assert meta3["lines"] == meta["lines"] and not (clean == img).all()
    assert len(seen) >= 4
    assert load_config(None)["degrade"]["prob"] == 0


def test_each_step_does_what_it_says():
    rng = np.random.default_rng(0)
    img = np.full((64, 64, 3), 255, np.uint8)
    img[20:44, 30:34] = 0
    blurred = degrade.apply(img, [{"kind": "defocus", "sigma": 1.5}])
    assert blurred[32, 28].max() < 255 and blurred[32, 31].min() > 0
    noisy = degrade.apply(img, [{"kind": "noise", "sigma": 5.0, "seed": 3}])
    assert (noisy == degrade.apply(img, [{"kind": "noise", "sigma": 5.0, "seed": 3}])).all()
    assert noisy[:10, :10].std() > 1
    lit = degrade.apply(img, [{"kind": "lighting", "amount": 0.4, "angle": 0.0}])
    assert lit[5, 60].mean() < lit[5, 3].mean()          # darker towards the angle (right)
    back = degrade.apply(img, [{"kind": "bleed", "alpha": 0.2, "blur": 1.0}])
    assert back[32, 64 - 32].mean() < 255                 # the mirrored stroke shows through
    moved = degrade.apply(img, [{"kind": "motion", "length": 5.0, "angle": 0.0}])
    assert moved[32, 28].max() < 255 and moved[10, 32].min() == 255   # smeared sideways only
    jpg = degrade.apply(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8), [{"kind": "jpeg", "quality": 30}])
    assert jpg.shape == (32, 32, 3)
    ht = degrade.apply(img, [{"kind": "halftone", "amount": 0.6, "period": 4.0}])
    assert (ht[:10, :10] == 255).all() and (ht[25:40, 31:33] == 0).all()   # paper and ink stay


def test_halftone_turns_greys_into_dots_without_moire():
    grey = np.full((128, 128, 3), 150, np.uint8)
    for period in (3.0, 3.7, 5.0):   # periods that do not divide the pixel grid too
        ht = degrade.apply(grey, [{"kind": "halftone", "amount": 0.6, "period": period}])
        assert ht.std() > 15                                  # dots, not a flat grey
        assert abs(float(ht.mean()) - 150) < 8                # the tone is kept on average
        # moire would be a slow beat between the screen and the pixel grid: averaged over a
        # few screen periods the page must be flat again
        k = int(round(3 * period))
        smooth = cv2.blur(ht, (k, k))[k:-k, k:-k].astype(float)
        assert smooth.max() - smooth.min() < 12, (period, smooth.max() - smooth.min())


@pytest.mark.parametrize("over, match", [({"step_probs": {"fog": 0.5}}, "unknown step 'fog'"),
                                         ({"prob": 2}, "degrade.prob"), ({"strength": 5}, "degrade.strength")])
def test_degrade_config_errors_name_the_key(over, match):
    with pytest.raises(ConfigError, match=match):
        load_config(degrade=over)
