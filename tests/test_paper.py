"""Paper backgrounds, realistic plain palettes and print inks: drawn into the recipe,
re-rendered bit for bit from it, mixed per sample with ``background.mode_probs``."""

from __future__ import annotations

import numpy as np
import pytest

from textsynth import paths
from textsynth.config import ConfigError, load_config
from textsynth.synthesis.generate import Stats, make_sample
from textsynth.synthesis.paper import INKS, PLAIN_PALETTE, apply_tone, draw_paper, paper_pixels
from textsynth.synthesis.render import render
from textsynth.synthesis.resources import Resources

DOCS = paths.packaged_config("synth_docs.yaml")


def test_paper_is_a_pure_function_of_its_recorded_parameters():
    p = draw_paper(np.random.default_rng(4))
    a, b = paper_pixels(96, 64, p), paper_pixels(96, 64, p)
    assert a.shape == (64, 96, 3) and (a == b).all()
    assert not (paper_pixels(96, 64, {**p, "seed": p["seed"] + 1}) == a).all()
    # paper-like: light, low saturation, textured but not noisy
    assert a.mean() > 190 and a.std() < 12 and a.std() > 0.3
    assert np.abs(a.astype(int) - a.mean(axis=2, keepdims=True)).mean() < 20
    grey = apply_tone(a, "photocopy")
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
    assert (apply_tone(a, "none") == a).all()


def test_paper_samples_rerender_from_their_recipe_with_print_inks(assets):
    res = Resources(load_config(DOCS, background={"mode": "paper"}))
    inks = np.array([rgb for rgb, _ in INKS])
    tones = set()
    for i in range(24):
        img, meta = make_sample(res, 7, i, Stats())
        recipe = meta["recipe"]
        assert recipe["version"] == 3 and recipe["background"]["mode"] == "paper"
        tones.add(recipe["background"]["tone"])
        if recipe["background"]["tone"] == "photocopy":   # the tone curve is applied: toner is grey
            assert (img[..., 0] == img[..., 1]).all() and (img[..., 1] == img[..., 2]).all()
        again, meta2 = render(res, recipe)
        assert (again == img).all() and meta2["lines"] == meta["lines"]
        for ln in recipe["lines"]:   # print inks: within the palette's jitter
            assert np.abs(inks - ln["color"]).max(axis=1).min() <= 6, ln["color"]
    assert len(tones) >= 2 and "photocopy" in tones


def test_mode_probs_mix_photos_paper_and_realistic_plain_colours(assets):
    res = Resources(load_config(background={"mode_probs": {"photo": 1, "paper": 1, "plain": 1}}))
    assert res.backgrounds is not None
    seen = {}
    for i in range(24):
        _, meta = make_sample(res, 3, i, Stats())
        bg = meta["recipe"]["background"]
        seen[bg["mode"]] = seen.get(bg["mode"], 0) + 1
        assert meta["recipe"]["version"] == (3 if bg["mode"] == "paper" else 2)
        if bg["mode"] == "plain":
            assert np.abs(np.array(PLAIN_PALETTE) - bg["color"]).max(axis=1).min() <= 4
    assert set(seen) == {"photo", "paper", "plain"}
    sat = Resources(load_config(background={"mode": "plain", "plain_palette": "saturated"}))
    colors = [make_sample(sat, 3, i, Stats())[1]["recipe"]["background"]["color"] for i in range(12)]
    assert max(np.abs(np.array(PLAIN_PALETTE) - c).max(axis=1).min() for c in colors) > 20


@pytest.mark.parametrize("over, match", [
    ({"mode_probs": {"photo": 1, "canvas": 1}}, "unknown choice 'canvas'"),
    ({"mode": "scanned"}, "background.mode. must be"),
    ({"plain_palette": "neon"}, "background.plain_palette. must be"),
])
def test_background_config_errors_name_the_key(over, match):
    with pytest.raises(ConfigError, match=match):
        load_config(background=over)
