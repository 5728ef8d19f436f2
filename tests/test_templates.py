"""Layout templates (issue 15.1, 15.2): every template in every language, exact boxes,
sizes inside the bucket, determinism, recipe versions, density, metadata."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from textsynth import paths
from textsynth.config import ConfigError, load_config
from textsynth.synthesis.generate import Stats, make_sample
from textsynth.synthesis.layouts import TEMPLATES
from textsynth.synthesis.layouts.common import Skip
from textsynth.synthesis.raster import draw_line, shape_line
from textsynth.synthesis.render import RecipeVersionError, render
from textsynth.synthesis.resources import Resources
from textsynth.synthesis.text import count_chars

DOCS = paths.packaged_config("synth_docs.yaml")


def _res(template: str, lang: str | None = None, **over) -> Resources:
    layout = {"template_probs": {template: 1.0}}
    text = {"lang_probs": {lang: 1.0}} if lang else {}
    return Resources(load_config(DOCS, layout=layout, text=text, **over))


@pytest.mark.parametrize("template", [t for t in TEMPLATES if t != "blocks"])
def test_every_template_in_every_language_labels_exactly(assets, template):
    langs = ("en", "zh", "mixed")
    if template == "vertical":   # vertical is Chinese: an English-only config has no columns
        res = _res(template, "en", background={"mode": "plain"})
        stats = Stats()
        with pytest.raises(Skip):
            make_sample(res, 3, 0, stats)
        assert set(stats.skips) == {"vertical_without_chinese_corpus"}
        langs = ("zh", "mixed")
    for lang in langs:
        res = _res(template, lang, background={"mode": "plain"})
        for i in range(4):
            img, meta = make_sample(res, 3, i, Stats())
            assert meta["template"] == template == meta["recipe"]["template"]
            lo, hi = res.cfg["size"]["buckets"][meta["size_bucket"]]
            assert all(lo <= ln["px"] <= hi for ln in meta["lines"])  # sizes stay in the bucket
            assert lo <= meta["char_px"] <= hi
            for ln, rl in zip(meta["lines"], meta["recipe"]["lines"]):
                assert ln["text"].strip() and res.fonts[rl["font"]].covers(ln["text"])  # no tofu
                # exact: the ink actually drawn for the line (justified or vertical where
                # asked) touches all four edges of its box
                mask = np.zeros(img.shape[:2], np.uint8)
                draw_line(shape_line(res.raster(rl["font"]), rl), mask, rl["x"], rl["baseline"])
                x0, y0, x1, y1 = ln["bbox"]
                assert (np.argwhere(mask).min(0) == [y0, x0]).all(), (template, lang, ln)
                assert (np.argwhere(mask).max(0) + 1 == [y1, x1]).all(), (template, lang, ln)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_justified_lines_span_their_width_with_per_character_boxes(assets, lang):
    res = _res("dense", lang, output={"char_boxes": True})
    seen = 0
    for i in range(12):
        _, meta = make_sample(res, 1, i, Stats())
        for ln, rl in zip(meta["lines"], meta["recipe"]["lines"]):
            x0, y0, x1, y1 = ln["bbox"]
            boxes = [c["bbox"] for c in ln["chars"]]
            assert all(x0 <= b[0] < b[2] <= x1 and y0 <= b[1] < b[3] <= y1 for b in boxes)
            assert min(b[0] for b in boxes) == x0 and max(b[2] for b in boxes) == x1
            if rl.get("justify"):
                seen += 1
                # ink spans the width, short by at most the side bearings (a final CJK comma
                # has its ink at the left of its em box)
                assert -3 <= rl["justify"] - (x1 - x0) <= rl["em"], (ln, rl)
    assert seen > 10


def test_templates_are_deterministic_and_rerender_from_their_recipe(assets):
    res = Resources(load_config(DOCS))
    templates = set()
    for i in range(30):
        a, ma = make_sample(res, 9, i, Stats())
        b, mb = make_sample(Resources(res.cfg) if i == 0 else res, 9, i, Stats())
        assert np.array_equal(a, b) and ma == mb
        again, _ = render(res, ma["recipe"])
        assert np.array_equal(again, a)
        templates.add(ma["template"])
    assert len(templates) >= 5  # synth_docs mixes them


def test_recipe_versions(assets):
    res = Resources(load_config(None))
    img, meta = make_sample(res, 0, 0, Stats())
    old = copy.deepcopy(meta["recipe"])
    old["version"] = 1           # version 1 recipes (blocks, no rules) render the same
    old.pop("template")
    assert np.array_equal(render(res, old)[0], img)
    old["version"] = 99
    with pytest.raises(RecipeVersionError, match="recipe version 99 .* re-make the sample"):
        render(res, old)


def test_unknown_template_is_a_config_error(assets):
    with pytest.raises(ConfigError, match="layout.template_probs: unknown choice 'tabel'"):
        load_config(DOCS, layout={"template_probs": {"tabel": 1.0}})


def test_dense_templates_fill_the_canvas(assets):
    """Issue 15.2 (the full 1,000-sample figures are in BENCHMARKS.md): dense body text at
    5-8 px carries >= 600 characters per 256x256, and 9-12 px >= 300 (medians)."""
    for bucket, floor in (("5-8", 600), ("9-12", 300)):
        res = _res("dense", size={"bucket_probs": {bucket: 1.0}})
        counts = [count_chars(make_sample(res, 4, i, Stats())[1]["text"]) for i in range(24)]
        assert np.median(counts) >= floor, (bucket, counts)


def test_density_and_template_reach_stats_and_index(assets):
    from textsynth.shards import INDEX_SCHEMA, index_row

    res = _res("table")
    stats = Stats()
    _, meta = make_sample(res, 2, 0, stats)
    assert stats.templates == {"table": 1} and stats.chars == count_chars(meta["text"]) > 0
    assert 0 < meta["scores"]["ink_frac"] < 1
    d = stats.as_dict()
    assert d["mean_chars_per_sample"] == stats.chars and d["templates"] == {"table": 1}
    row = index_row("k", meta, "k.png", 0, 1)
    assert row["template"] == "table" and row["num_chars"] == stats.chars
    assert INDEX_SCHEMA.names.index("template") < INDEX_SCHEMA.names.index("num_chars")
    ruled = [bool(make_sample(res, 2, i, Stats())[1]["recipe"].get("rules")) for i in range(12)]
    assert any(ruled)   # table rules are drawn (in the block's colour, under the text)


def test_canvas_sizes_are_drawn_per_sample_and_mixed_in_a_shard(assets, tmp_path):
    """Issue 15.3: one job's shards mix canvas sizes; width/height are in the metadata and
    the gallery filters by canvas size and template."""
    from textsynth.gallery.catalog import Catalog
    from textsynth.shards import ShardSpec, filesystem, write_shard

    sizes = {"256x256": 0.4, "384x640": 0.3, "512x320": 0.3}
    res = Resources(load_config(DOCS, canvas={"sizes": sizes}))
    fs, root = filesystem(str(tmp_path / "out"))
    record = write_shard(res, ShardSpec("mix", 0, 11, 16, 0), fs, root)
    assert record["samples"] == 16
    cat = Catalog([str(tmp_path / "out")])
    got = cat.query({}, per_page=100)
    canvas = got["counts"]["canvas"]
    assert set(canvas) <= set(sizes) and len(canvas) >= 2 and sum(canvas.values()) == 16
    one = next(iter(canvas))
    picked = cat.query({"canvas": [one]}, per_page=100)
    assert picked["total"] == canvas[one]
    assert {f"{it['width']}x{it['height']}" for it in picked["items"]} == {one}
    assert sum(got["counts"]["template"].values()) == 16
    for i in range(6):  # the image is the size its metadata says
        img, meta = make_sample(res, 11, i, Stats())
        assert img.shape[:2] == (meta["height"], meta["width"])
        assert f"{meta['width']}x{meta['height']}" in sizes
    with pytest.raises(ConfigError, match="canvas.sizes: '12x256' is not WIDTHxHEIGHT"):
        load_config(DOCS, canvas={"sizes": {"12x256": 1.0}})
