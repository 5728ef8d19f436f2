"""pipelines/configs/synth_real.yaml (issue 27.6): every ingredient of realistic synthesis in
one config, each sample re-rendered bit for bit from its recipe; inks that belong on their
surface."""

from __future__ import annotations

import collections

import numpy as np

from textsynth import paths
from textsynth.config import load_config
from textsynth.synthesis import scene
from textsynth.synthesis.color import luminance
from textsynth.synthesis.generate import Stats, make_sample
from textsynth.synthesis.render import render
from textsynth.synthesis.resources import Resources

REAL = paths.packaged_config("synth_real.yaml")


def test_synth_real_mixes_every_ingredient_and_rerenders(assets):
    res = Resources(load_config(REAL))
    seen = collections.Counter()
    stats = Stats()
    for i in range(60):
        img, meta = make_sample(res, 0, i, stats)
        r = meta["recipe"]
        seen[r["background"]["mode"]] += 1
        seen[r["template"]] += 1
        seen["geometry"] += "geometry" in r and r["background"]["mode"] != "scene"
        seen["degrade"] += bool(r.get("degrade"))
        seen["ttb"] += any(ln.get("direction") == "ttb" for ln in meta["lines"])
        assert r["version"] == 2 or all(np.shape(ln["quad"]) in ((8,), (4, 2)) for ln in meta["lines"])
        if i % 6 == 0:
            again, meta2 = render(res, r)
            assert (again == img).all() and meta2["lines"] == meta["lines"]
    for want in ("paper", "scene", "photo", "plain", "vertical", "table", "geometry", "degrade", "ttb"):
        assert seen[want] >= 1, (want, seen)
    assert sum(stats.skips.values()) <= 6, stats.skips


def test_surfaces_get_their_own_inks():
    rng = np.random.default_rng(0)
    for _ in range(20):
        dark = scene.surface_ink(rng, {"kind": "whiteboard", "color": [236, 238, 236]})
        chalk = scene.surface_ink(rng, {"kind": "chalkboard", "color": [38, 56, 46]})
        assert luminance(np.array(dark)) < 0.1 and luminance(np.array(chalk)) > 0.5
    assert scene.surface_ink(rng, {"kind": "sign", "color": [22, 84, 160]}) == [250, 250, 250]
    assert scene.surface_ink(rng, {"kind": "sign", "color": [252, 204, 40]}) == [20, 20, 20]


def test_a_line_on_a_turned_board_is_coloured_for_the_board_not_the_photo_around_it(assets):
    res = Resources(load_config(paths.packaged_config("synth_docs.yaml"), background={"mode": "scene"}))
    boards = 0
    for i in range(40):
        _, meta = make_sample(res, 5, i, Stats())
        surface = meta["recipe"]["background"]["surface"]
        if surface["kind"] == "whiteboard":
            boards += 1
            # markers, not white letters chosen against the photo's bright patches
            assert all(luminance(np.array(ln["color"])) < 0.1 for ln in meta["recipe"]["lines"]), meta["recipe"]["lines"]
    assert boards >= 2


def test_docs_images_are_made_from_code_drawn_backgrounds(assets, tmp_path):
    """`make docs-images`: one sheet per ingredient and a gallery screenshot over a job of
    such pages, and none of them shows a photo (the script forces paper and plain
    backgrounds, so no third-party pixels reach the repo)."""
    import subprocess
    import sys

    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "docs" / "make_images.py"
    subprocess.run([sys.executable, str(script), "--out", str(tmp_path), "--per-sheet", "2"], check=True,
                   capture_output=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{n}.jpg" for n in ("paper", "plain", "geometry", "vertical", "degrade", "gallery"))
    sys.path.insert(0, str(script.parent))
    try:
        from make_images import SHEETS
    finally:
        sys.path.remove(str(script.parent))
    for _, over in SHEETS.values():
        for o in over if isinstance(over, list) else [over]:
            assert set(o["background"]["mode_probs"]) <= {"paper", "plain"}


def test_turned_and_vertical_lines_on_photos_get_more_contrast(assets):
    """Resampling thins turned strokes and columns are read on their side: on photos those
    lines need HARD_ON_PHOTO x min_contrast (or a panel); flat lines keep min_contrast."""
    from textsynth.synthesis.recipe import HARD_ON_PHOTO

    res = Resources(load_config(REAL, background={"mode_probs": {"photo": 1}}, degrade={"prob": 0.0},
                                geometry={"prob": 0.5}))
    need = res.cfg["color"]["min_contrast"] * HARD_ON_PHOTO
    hard = 0
    for i in range(30):
        _, meta = make_sample(res, 2, i, Stats())
        r = meta["recipe"]
        for rl in r["lines"]:
            if "geometry" in r or rl.get("direction") == "ttb":
                hard += 1
                assert rl["contrast"] >= need - 1e-3, rl
    assert hard >= 20


def test_a_scene_shows_its_page_at_about_the_labelled_size(assets):
    """The page is laid out at the size it is shown at: the map from the flat page to the
    photo is a turn and a perspective, not a shrink, so a line's px is its size in the image."""
    from textsynth.synthesis.geometry import Warp

    res = Resources(load_config(REAL, background={"mode_probs": {"scene": 1}}))
    for i in range(12):
        _, meta = make_sample(res, 4, i, Stats())
        r = meta["recipe"]
        W, H = r["canvas"]
        fw, fh = r["geometry"]["flat"]
        ox, oy = (W - fw) // 2, (H - fh) // 2
        warp = Warp(r["geometry"], W, H)
        quad = warp.outline(ox, oy, ox + fw, oy + fh)
        x, y = quad[:, 0], quad[:, 1]
        area = 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
        assert 0.8 <= (area / (fw * fh)) ** 0.5 <= 1.2, (i, area, fw, fh)
