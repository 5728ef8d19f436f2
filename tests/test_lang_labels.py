"""Language labels: every line carries the language of the block it was drawn from, the
sample's ``lang`` is composed from its lines, and ``text.sample_lang_probs`` draws one
language per sample (off by default: the default config renders what it rendered before)."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from test_honest_content import GOLDEN, _asset_fingerprint

from textsynth import paths
from textsynth.card import sample_features
from textsynth.config import ConfigError, load_config, parse_sets
from textsynth.shards import INDEX_SCHEMA, index_row
from textsynth.synthesis.generate import Stats, make_sample
from textsynth.synthesis.render import render
from textsynth.synthesis.resources import Resources
from textsynth.synthesis.text import script_of

HAN = re.compile(r"[\u3400-\u9fff]")
DOCS = paths.packaged_config("synth_docs.yaml")
WHOLE = {"en": 0.45, "zh": 0.45, "mixed": 0.10}   # the default weights, per sample


def _samples(cfg: dict, n: int, seed: int = 0):
    res = Resources(cfg)
    return [make_sample(res, seed, i, Stats()) for i in range(n)]


def _block_langs(meta: dict) -> list[str]:
    """The language of each line's block, from the recipe."""
    recipe = meta["recipe"]
    return [recipe["blocks"][rl["block"]]["lang"] for rl in recipe["lines"]]


def test_every_line_carries_its_blocks_language(assets):
    for _, meta in _samples(load_config(None), 60):
        langs = [ln["lang"] for ln in meta["lines"]]
        assert langs == _block_langs(meta)
        for ln in meta["lines"]:   # the blocks template: corpus lines, Han exactly in zh and mixed
            assert bool(HAN.search(ln["text"])) == (ln["lang"] != "en"), ln
    # Document templates: English never holds Han; a Chinese table's number holds none either
    for _, meta in _samples(load_config(DOCS), 30):
        assert [ln["lang"] for ln in meta["lines"]] == _block_langs(meta)
        assert not any(HAN.search(ln["text"]) for ln in meta["lines"] if ln["lang"] == "en")


def test_line_lang_reaches_the_index_and_the_card(assets):
    (img, meta), = _samples(load_config(None), 1)
    row = index_row("k", meta, "k.png", 0, 1)
    table = pa.Table.from_pylist([row], schema=INDEX_SCHEMA)
    assert [ln["lang"] for ln in table.column("lines")[0].as_py()] == [ln["lang"] for ln in meta["lines"]]
    json_struct = next(f for f in sample_features("png") if f["name"] == "json")["struct"]
    lines = next(f for f in json_struct if f["name"] == "lines")
    assert {"name": "lang", "dtype": "string"} in lines["list"]


def test_version_1_recipes_label_lines_by_their_script(assets):
    """Version-1 recipes name no block per line: a line's lang is its text's script."""
    (img, meta), = _samples(load_config(None), 1)
    old = copy.deepcopy(meta["recipe"])
    old["version"] = 1
    old.pop("template")
    for rl in old["lines"]:
        rl.pop("block")
    again, labels = render(Resources(load_config(None)), old)
    assert np.array_equal(again, img)
    assert [ln["lang"] for ln in labels["lines"]] == [script_of(ln["text"]) for ln in labels["lines"]]


def test_sample_lang_probs_gives_whole_sample_languages(assets):
    samples = _samples(load_config(None, text={"sample_lang_probs": WHOLE}), 200)
    labels = [meta["lang"] for _, meta in samples]
    assert 0.03 < labels.count("mixed") / len(labels) < 0.2      # per block it is ~55%
    assert min(labels.count("en"), labels.count("zh")) > 0.3 * len(labels)
    for _, meta in samples:
        assert {b["lang"] for b in meta["recipe"]["blocks"]} == {meta["lang"]}
        assert {ln["lang"] for ln in meta["lines"]} == {meta["lang"]}


def test_sample_lang_probs_from_set_and_validated():
    cfg = load_config(None, **parse_sets(["text.sample_lang_probs={en: 0.5, zh: 0.5}"]))
    assert cfg["text"]["sample_lang_probs"] == {"en": 0.5, "zh": 0.5}
    assert load_config(None)["text"]["sample_lang_probs"] is None
    for bad, match in [("{en: 1, fr: 1}", "text.sample_lang_probs: unknown choice 'fr'"),
                       ("{en: -1, zh: 1}", r"'text.sample_lang_probs.en' must be in \[0, inf\]"),
                       ("{en: 0, zh: 0}", "text.sample_lang_probs must give some choice a positive"),
                       ("{en: high}", "'text.sample_lang_probs.en' must be a number"),
                       ("{}", "'text.sample_lang_probs' must map choices to weights"),
                       ("0.5", "'text.sample_lang_probs' must be a mapping")]:
        with pytest.raises(ConfigError, match=match):
            load_config(None, **parse_sets([f"text.sample_lang_probs={bad}"]))


def test_set_replaces_or_unsets_a_config_files_sample_lang_probs(tmp_path):
    path = tmp_path / "whole.yaml"
    path.write_text("text: {sample_lang_probs: {en: 1.0, zh: 1.0}}\n")

    def whole(*sets):
        return load_config(path, **parse_sets(list(sets)))["text"]["sample_lang_probs"]

    assert whole() == {"en": 1.0, "zh": 1.0}
    assert whole("text.sample_lang_probs={mixed: 1}") == {"mixed": 1}   # replaced whole, not merged
    assert whole("text.sample_lang_probs=null") is None


# Recorded with the code before per-line lang and sample_lang_probs existed: sha256 over the
# samples' image sha256s (hex, in order), and over their metadata (sorted-key JSON).
BEFORE = {"default": ("9a4afce9ea680b9875fb73521dc867e14fb3f141b2b0953b80b6fde46ee27d4c",
                      "8b0267775ceed3c2c655149597570c35c0efe0d0670d87ada74aeef08a0417ef"),
          "docs": ("b37d4ce84f4cddc065d996889b30d2c25066147eefa5d6785e24191b27748443",
                   "f59537f427610558e616876487c64e44956bdd09dc611ff054baab281a9d8b6a")}


@pytest.mark.parametrize("name, path", [("default", None), ("docs", DOCS)])
def test_configs_render_the_same_pixels_and_labels_as_before(assets, name, path):
    """Same pixels, and the same metadata once the new per-line lang is taken out (the ci
    profile's assets as when recorded)."""
    assert _asset_fingerprint(Path(assets)) == json.loads(GOLDEN.read_text())["assets"]
    pixels, labels = hashlib.sha256(), hashlib.sha256()
    for img, meta in _samples(load_config(path), 24):
        pixels.update(hashlib.sha256(img.tobytes()).hexdigest().encode())
        meta = {**meta, "lines": [{k: v for k, v in ln.items() if k != "lang"} for ln in meta["lines"]]}
        labels.update(json.dumps(meta, sort_keys=True, default=str).encode())
    assert (pixels.hexdigest(), labels.hexdigest()) == BEFORE[name]
