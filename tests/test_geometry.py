"""Geometric text: rotated, perspective and curved lines are labelled with quads (and
polygons for curves) that contain their ink and fit it closely; samples re-render from
their recipes; the index gives every line a quad; the default config stays flat."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from textsynth import paths
from textsynth.config import ConfigError, load_config
from textsynth.shards import ShardSpec, render_shard
from textsynth.synthesis.generate import Stats, make_sample
from textsynth.synthesis.label_check import line_ink, tight_area
from textsynth.synthesis.geometry import Warp
from textsynth.synthesis.render import render
from textsynth.synthesis.resources import Resources

DOCS = paths.packaged_config("synth_docs.yaml")


def _res(kind: str, **over) -> Resources:
    return Resources(load_config(DOCS, geometry={"prob": 1.0, "kind_probs": {kind: 1.0}},
                                 background={"mode": "plain"}, **over))


@pytest.mark.parametrize("kind", ["rotate", "perspective", "arc", "wave"])
def test_quads_and_polygons_contain_the_ink_and_fit_it_closely(assets, kind):
    res = _res(kind)
    checked, ratios = 0, []
    for i in range(10):
        img, meta = make_sample(res, 21, i, Stats())
        recipe = meta["recipe"]
        assert recipe["version"] == 3 and recipe["geometry"]["kind"] == kind
        for ln, rl in zip(meta["lines"], recipe["lines"]):
            shape = np.array(ln["poly"] if kind in ("arc", "wave") else ln["quad"], np.float32).reshape(-1, 2)
            assert len(ln["quad"]) == 8 and ln["direction"] == "ltr"
            warp = Warp(recipe["geometry"], *recipe["canvas"])
            flat, fx, fy = line_ink(res, rl)
            mask, mx, my = warp.patch(flat, fx, fy)
            ys, xs = np.nonzero(mask > 0)
            # bbox: exactly the extent of the ink drawn
            assert ln["bbox"] == [mx + xs.min(), my + ys.min(), mx + xs.max() + 1, my + ys.max() + 1]
            # every inked pixel's centre lies inside the outline (pixel edges: centre at +0.5)
            inside = [cv2.pointPolygonTest(shape, (float(mx + x + 0.5), float(my + y + 0.5)), True)
                      for x, y in zip(xs, ys)]
            assert min(inside) >= -1e-3, (kind, ln["text"], min(inside))
            # the quad clockwise from the reading-order top-left: its first edge runs along
            # the text (longer than the second for a line of several characters)
            q = np.array(ln["quad"]).reshape(4, 2)
            if len(rl["text"].replace(" ", "")) >= 4:
                assert np.linalg.norm(q[1] - q[0]) > np.linalg.norm(q[2] - q[1])
                # closeness: the outline's area against the ink's tight polygon
                ratios.append(cv2.contourArea(shape) / tight_area(warp, flat, fx, fy))
            checked += 1
    assert checked >= 20
    assert max(ratios) <= 1.5, (kind, sorted(ratios)[-5:])


def test_geometric_samples_rerender_from_their_recipe_with_char_quads(assets):
    res = Resources(load_config(DOCS, geometry={"prob": 1.0}, output={"char_boxes": True}))
    kinds = set()
    for i in range(8):
        img, meta = make_sample(res, 5, i, Stats())
        kinds.add(meta["recipe"]["geometry"]["kind"])
        again, meta2 = render(res, meta["recipe"], char_boxes=True)
        assert (again == img).all() and meta2["lines"] == meta["lines"]
        for ln in meta["lines"]:
            assert all(len(c["quad"]) == 8 for c in ln["chars"])
    assert len(kinds) >= 2


def test_index_gives_every_line_a_quad_and_a_direction(assets):
    flat = Resources(load_config(None))
    _, pq_bytes, _ = render_shard(flat, ShardSpec("t", 0, 0, 3, 0))
    rows = pq.read_table(io.BytesIO(pq_bytes)).to_pylist()
    for row in rows:   # version-2 samples: the box's corners, clockwise from the top-left
        for ln in row["lines"]:
            x0, y0, x1, y1 = ln["bbox"]
            assert ln["quad"] == [x0, y0, x1, y0, x1, y1, x0, y1] and ln["direction"] == "ltr"
            assert ln["poly"] is None
    bent = _res("arc")
    _, pq_bytes, _ = render_shard(bent, ShardSpec("t", 0, 0, 3, 0))
    rows = pq.read_table(io.BytesIO(pq_bytes)).to_pylist()
    assert all(ln["poly"] and len(ln["poly"]) >= 16 for row in rows for ln in row["lines"])


def test_geometry_is_off_by_default_and_checked():
    assert load_config(None)["geometry"]["prob"] == 0
    with pytest.raises(ConfigError, match="geometry.kind_probs: unknown choice 'spiral'"):
        load_config(geometry={"kind_probs": {"spiral": 1.0}})
    with pytest.raises(ConfigError, match="geometry.max_perspective"):
        load_config(geometry={"max_perspective": 0.5})


def test_scene_puts_a_lit_surface_with_its_text_into_the_photo(assets):
    res = Resources(load_config(DOCS, background={"mode": "scene"}))
    kinds = set()
    for i in range(8):
        img, meta = make_sample(res, 9, i, Stats())
        recipe = meta["recipe"]
        bg = recipe["background"]
        assert recipe["version"] == 3 and bg["mode"] == "scene" and meta["origin"]["background"] == bg["file"]
        kinds.add(bg["surface"]["kind"])
        assert 0.6 <= bg["surface"]["light"]["gain"] <= 1.1
        again, meta2 = render(res, recipe)
        assert (again == img).all() and meta2["lines"] == meta["lines"]
        # every line lies on the surface: inside the mapped page
        fw, fh = recipe["geometry"]["flat"]
        W, H = recipe["canvas"]
        ox, oy = (W - fw) // 2, (H - fh) // 2
        page = Warp(recipe["geometry"], W, H).outline(ox, oy, ox + fw, oy + fh).astype(np.float32)
        for ln in meta["lines"]:
            for x, y in np.array(ln["quad"]).reshape(4, 2):
                assert cv2.pointPolygonTest(page, (float(x), float(y)), True) >= -1.0
    assert len(kinds) >= 2
