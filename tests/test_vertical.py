"""Vertical Chinese: columns top to bottom, right to left, vertical glyph forms from
HarfBuzz, Latin runs turned clockwise; exact boxes, quads and ``direction: ttb`` labels."""

from __future__ import annotations

import numpy as np
import pytest

from textsynth import paths
from textsynth.config import load_config
from textsynth.synthesis.generate import Stats, make_sample
from textsynth.synthesis.layouts.common import Skip
from textsynth.synthesis.raster import draw_line, shape_line
from textsynth.synthesis.render import render
from textsynth.synthesis.resources import Resources

DOCS = paths.packaged_config("synth_docs.yaml")


def _res(**over) -> Resources:
    return Resources(load_config(DOCS, layout={"template_probs": {"vertical": 1.0}},
                                 text={"lang_probs": {"zh": 0.5, "mixed": 0.5}},
                                 size={"bucket_probs": {"13-16": 1.0, "17-20": 1.0}}, **over))


def test_columns_run_top_to_bottom_right_to_left_with_exact_labels(assets):
    res = _res(background={"mode": "paper"})
    columns = 0
    for i in range(6):
        img, meta = make_sample(res, 4, i, Stats())
        recipe = meta["recipe"]
        assert recipe["version"] == 3 and meta["template"] == "vertical"
        xs = [ln["bbox"][0] for ln in meta["lines"]]
        assert xs == sorted(xs, reverse=True)                 # the first column is the rightmost
        for ln, rl in zip(meta["lines"], recipe["lines"]):
            assert ln["direction"] == "ttb" == rl["direction"]
            x0, y0, x1, y1 = ln["bbox"]
            assert ln["quad"] == [x0, y0, x1, y0, x1, y1, x0, y1]
            mask = np.zeros(img.shape[:2], np.uint8)
            draw_line(shape_line(res.raster(rl["font"]), rl), mask, rl["x"], rl["baseline"])
            ys, xs_ = np.nonzero(mask)
            assert [xs_.min(), ys.min(), xs_.max() + 1, ys.max() + 1] == ln["bbox"]   # exact ink
            if len(ln["text"]) >= 3:
                assert y1 - y0 > x1 - x0                      # a column: taller than wide
                columns += 1
        again, _ = render(res, recipe)
        assert (again == img).all()
    assert columns >= 10


def test_vertical_forms_and_turned_latin_runs(assets):
    res = _res()
    # HarfBuzz's vertical shaping swaps the bracket for its vertical form; where a font's
    # vertical form has no outline (the AR PL fonts), the bracket is turned instead
    for face in res.fonts.covering("国（Ab"):
        raster = res.raster(face.name)
        em = raster.em_for_px(16, han=True)
        (flat, *_), = raster.shape("（", em).glyphs
        (vert, *_), = raster.shape_vertical("（", em).glyphs
        h, w = flat.bitmap.shape
        assert h > w and vert.bitmap.shape[1] > vert.bitmap.shape[0], face.name   # tall "(" lies down
    face = next(f for f in res.fonts.covering("国（Ab") if "wqy" in f.name or "gbsn" in f.name)
    raster = res.raster(face.name)
    em = raster.em_for_px(16, han=True)
    # a Latin word inside a column lies on its side: taller than wide, centred on the axis
    word = raster.shape_vertical("国Hello国", em)
    turned = [(g, x, y) for g, x, y, c in word.glyphs if c == 1]
    assert len(turned) == 1
    g, x, y = turned[0]
    h, w = g.bitmap.shape
    assert h > 2 * w and abs((x + w / 2)) <= em / 2
    han = [y for _, _, y, c in word.glyphs if c in (0, 6)]
    assert han[0] < y < han[1]                                # between the two characters
    assert word.advance >= 2 * em + raster.advance("Hello", em) - 1


def test_english_asks_for_columns_become_mixed(assets):
    res = Resources(load_config(DOCS, layout={"template_probs": {"vertical": 1.0}},
                                text={"lang_probs": {"en": 0.5, "zh": 0.5}}))
    stats = Stats()
    langs = {make_sample(res, 0, i, stats)[1]["lang"] for i in range(6)}
    assert langs <= {"mixed", "zh"} and stats.events["vertical_en_as_mixed"] >= 1
    # without a Chinese corpus there is nothing to set vertically: a counted skip, not a crash
    en_only = Resources(load_config(DOCS, layout={"template_probs": {"vertical": 1.0}}, text={"lang_probs": {"en": 1.0}}))
    stats = Stats()
    with pytest.raises(Skip):
        make_sample(en_only, 0, 0, stats)
    assert stats.skips["vertical_without_chinese_corpus"] == 8


def test_every_chinese_font_sets_a_column_in_order_without_overlaps(assets):
    """Each character's ink lies in its own cell, below the one before: a font whose vertical
    metrics are off (WenQuanYi Micro Hei puts the full stop's origin 1.3 em from the Han
    glyphs') is set on its em box instead, and its full stop no longer hides under a glyph."""
    res = _res()
    text = "麾。帝国，书"
    for face in res.fonts.covering(text):
        raster = res.raster(face.name)
        em = raster.em_for_px(20, han=True)
        spans = []
        for g, x, y, c in raster.shape_vertical(text, em).glyphs:
            assert g.bitmap.size, (face.name, text[c])
            spans.append((y - g.top, y - g.top + g.bitmap.shape[0]))
        assert len(spans) == len(text), face.name
        for (t0, b0), (t1, b1) in zip(spans, spans[1:]):
            assert t1 >= b0 - 1 and b1 > b0, (face.name, spans)


@pytest.mark.parametrize("kind", ["arc", "wave", "rotate"])
def test_columns_under_any_geometry_keep_one_quad_convention(assets, kind):
    """A column's quad starts at its top-left corner and its first edge runs across the
    column (the short side), under curves as under straight maps: a long side tilted a few
    degrees by a wave must not be taken for the first edge (it turned the reading crop)."""
    from textsynth.ocr import line_reading_crop

    res = Resources(load_config(paths.packaged_config("synth_real.yaml"), geometry={"prob": 1.0, "kind_probs": {kind: 1}},
                                layout={"template_probs": {"vertical": 1}}, degrade={"prob": 0.0},
                                background={"mode_probs": {"paper": 1}}))
    seen = 0
    for i in range(6):
        img, meta = make_sample(res, 9, i, Stats())
        for ln in meta["lines"]:
            if ln["direction"] != "ttb" or len(ln["text"]) < 4:
                continue
            q = np.array(ln["quad"]).reshape(4, 2)
            assert np.linalg.norm(q[1] - q[0]) < np.linalg.norm(q[2] - q[1]), (kind, ln)
            assert q[0][1] < q[3][1]                                 # starts at the top
            crop = line_reading_crop(img, ln)
            assert crop.shape[1] > crop.shape[0]                      # turned to read across
            seen += 1
    assert seen >= 5
