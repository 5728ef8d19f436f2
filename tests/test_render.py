"""The renderer on real fonts, corpora and photos from the ci asset profile."""

from __future__ import annotations

import json

import numpy as np
import pytest

from textsynth.config import ConfigError, load_config
from textsynth.synthesis.generate import Stats, make_sample
from textsynth.synthesis.raster import FaceRaster, draw_line
from textsynth.synthesis.recipe import Skip, sample_recipe
from textsynth.synthesis.render import encode, render
from textsynth.synthesis.resources import Resources


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


def _cfg(tmp_path, **over):
    import yaml

    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(over))
    return load_config(path)


@pytest.fixture(scope="module")
def res(assets):
    return Resources(load_config(None))


def _ink_rows(shaped) -> int:
    x0, y0, x1, y1 = shaped.ink_bounds()
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    draw_line(shaped, mask, -x0, -y0)
    rows = np.flatnonzero(mask.max(axis=1) > 0)
    return int(rows[-1] - rows[0] + 1)


# -- never tofu -------------------------------------------------------------------------

def test_latin_only_faces_never_chosen_for_chinese(fonts):
    latin_only = [f for f in fonts.faces if not f.has_han]
    assert latin_only, "the ci profile has Latin-only faces (DejaVu, Liberation, Comic Neue)"
    covering = fonts.covering("汉字渲染测试，数据引擎。")
    assert covering and all(f.has_han for f in covering)
    assert not set(f.name for f in covering) & set(f.name for f in latin_only)


def test_chinese_samples_use_faces_that_draw_every_character(tmp_path, assets):
    cfg = _cfg(tmp_path, text={"lang_probs": {"zh": 1.0}})
    res = Resources(cfg)
    for i in range(30):
        _, meta = make_sample(res, 0, i, Stats())
        for line in meta["lines"]:
            face = res.fonts[line["font"]]
            assert face.has_han and face.covers(line["text"])
            hb_glyphs = res.raster(line["font"]).shape(line["text"], 20).glyphs  # raises on .notdef
            assert hb_glyphs


def test_text_no_face_can_draw_is_resampled_then_skipped_and_counted(tmp_path, assets):
    # U+2A6A5 (Ext B) and U+1F980 (emoji) are in no ci font.
    bad = _write(tmp_path, "zh-bad.txt", "\U0002A6A5\U0002A6A5文字\n\U0001F980 测试\n")
    cfg = _cfg(tmp_path, text={"lang_probs": {"zh": 1.0}, "corpora": {"zh": [bad]}})
    res = Resources(cfg)
    stats = Stats()
    with pytest.raises(Skip):
        make_sample(res, 0, 0, stats)
    assert stats.samples == 0
    assert stats.skips["no_font_covers_text"] > 0
    assert stats.events["text_resampled_no_font"] >= stats.skips["no_font_covers_text"]


def test_zero_width_and_control_characters_are_removed(tmp_path, assets):
    text = "Zero\u200bwidth\u200d and\u0007 control\ufeff chars stay invisible"
    cfg = _cfg(tmp_path, text={"lang_probs": {"en": 1.0},
                               "corpora": {"en": [_write(tmp_path, "en.txt", text + "\n")]}},
               layout={"lines": [1, 1], "blocks": [1, 1], "mode_probs": {"lines": 1.0}})
    _, meta = make_sample(Resources(cfg), 0, 0, Stats())
    drawn = meta["lines"][0]["text"]
    assert drawn and all(ch not in drawn for ch in "\u200b\u200d\u0007\ufeff")
    assert "Zerowidth and control" in drawn


# -- size ------------------------------------------------------------------------------

@pytest.mark.parametrize("script", ["han", "latin"])
def test_ink_height_matches_requested_px(fonts, script):
    text = "国回田" if script == "han" else "HEH"
    faces = [f for f in fonts.faces if f.covers(text) and (f.has_han or script == "latin")]
    assert faces
    for face in faces:
        raster = FaceRaster(face)
        for px in range(5, 21):
            shaped = raster.shape(text, raster.em_for_px(px, han=script == "han"))
            assert abs(_ink_rows(shaped) - px) <= 1, (face.name, px)


def test_size_buckets_recorded(res):
    buckets = res.cfg["size"]["buckets"]
    for i in range(20):
        _, meta = make_sample(res, 3, i, Stats())
        lo, hi = buckets[meta["size_bucket"]]
        assert all(lo <= ln["px"] <= hi for ln in meta["lines"])
        assert lo <= meta["char_px"] <= hi


# -- boxes -----------------------------------------------------------------------------

def test_boxes_contain_all_ink_and_are_tight(tmp_path, assets):
    cfg = _cfg(tmp_path, background={"mode": "plain"}, output={"char_boxes": True})
    res = Resources(cfg)
    for i in range(25):
        img, meta = make_sample(res, 7, i, Stats())
        bg = np.array(meta["recipe"]["background"]["color"], np.uint8)
        changed = (img != bg).any(axis=2)
        inside = np.zeros_like(changed)
        for line in meta["lines"]:
            x0, y0, x1, y1 = line["bbox"]
            inside[y0:y1, x0:x1] = True
            if "panel" in meta["recipe"]["lines"][meta["lines"].index(line)]["effects"]:
                continue  # the panel changes pixels around the ink by design
            # tight: the glyph coverage drawn for the line touches all four edges of its box
            rl = meta["recipe"]["lines"][meta["lines"].index(line)]
            mask = np.zeros(img.shape[:2], np.uint8)
            draw_line(res.raster(rl["font"]).shape(rl["text"], rl["em"]), mask, rl["x"], rl["baseline"])
            assert (np.argwhere(mask).min(0) == [y0, x0]).all()
            assert (np.argwhere(mask).max(0) + 1 == [y1, x1]).all()
            for ch in line["chars"]:
                cx0, cy0, cx1, cy1 = ch["bbox"]
                assert x0 <= cx0 < cx1 <= x1 and y0 <= cy0 < cy1 <= y1
        no_panel = not any("panel" in ln["effects"] for ln in meta["recipe"]["lines"])
        if no_panel:
            assert not (changed & ~inside).any(), f"ink outside the boxes in sample {i}"


# -- shaping ---------------------------------------------------------------------------

def test_shaping_applies_kerning(fonts):
    raster = FaceRaster(fonts["DejaVuSans.ttf#0"])
    em = 40
    shaped = raster.shape("AVAVATo", em).advance
    naive = sum(raster.shape(ch, em).advance for ch in "AVAVATo")
    assert shaped < naive - 3, (shaped, naive)


# -- determinism -----------------------------------------------------------------------

def test_same_seed_same_bytes(res):
    a = [make_sample(res, 11, i, Stats()) for i in range(6)]
    fresh = Resources(load_config(None))  # cold caches must not change anything
    b = [make_sample(fresh, 11, i, Stats()) for i in range(6)]
    for (ia, ma), (ib, mb) in zip(a, b):
        assert encode(ia) == encode(ib)
        assert json.dumps(ma, sort_keys=True) == json.dumps(mb, sort_keys=True)
    other = make_sample(res, 12, 0, Stats())[0]
    assert not np.array_equal(other, a[0][0])


def test_recipe_rerenders_identical_pixels(res):
    img, meta = make_sample(res, 5, 3, Stats())
    recipe = json.loads(json.dumps(meta["recipe"]))  # through JSON, as stored in a shard
    again, meta2 = render(Resources(load_config(None)), recipe)
    assert np.array_equal(img, again)
    assert meta2["lines"] == meta["lines"]


def test_sampling_does_not_depend_on_other_samples(res):
    rng = np.random.default_rng([1, 2, 0])
    r1 = sample_recipe(res, rng)
    for i in range(5):
        make_sample(res, 99, i, Stats())
    r2 = sample_recipe(res, np.random.default_rng([1, 2, 0]))
    assert r1 == r2


# -- composition and config ------------------------------------------------------------

def test_any_canvas_size_and_plain_mode(tmp_path, assets):
    cfg = _cfg(tmp_path, canvas={"width": 640, "height": 200}, background={"mode": "plain"})
    img, meta = make_sample(Resources(cfg), 0, 0, Stats())
    assert img.shape == (200, 640, 3) and (meta["width"], meta["height"]) == (640, 200)
    assert meta["origin"]["background"] is None


def test_text_contrasts_with_background(res):
    for i in range(20):
        _, meta = make_sample(res, 21, i, Stats())
        for line in meta["recipe"]["lines"]:
            assert line["contrast"] >= res.cfg["color"]["min_contrast"] or "panel" in line["effects"]


def test_corrupt_background_is_a_counted_skip(tmp_path, assets):
    bgdir = tmp_path / "bg"
    bgdir.mkdir()
    good = next((assets / "backgrounds").rglob("*.png"))
    (bgdir / "good.png").write_bytes(good.read_bytes())
    (bgdir / "truncated.png").write_bytes(good.read_bytes()[:2000])
    cfg = _cfg(tmp_path, background={"dirs": [str(bgdir)]})
    res = Resources(cfg)
    stats = Stats()
    made = [make_sample(res, 0, i, stats) for i in range(12)]
    assert stats.samples == 12
    assert stats.skips["bad_background:corrupt_image"] >= 1   # once per draw that names it
    assert res.backgrounds.bad == {"truncated.png": "corrupt_image"}
    # A sample depends on (config, seed, index) only, not on what this process met before:
    # a fresh process that never saw the bad file makes the same pixels and recipe.
    for i in (0, 5, 11):
        img, meta = make_sample(Resources(cfg), 0, i, Stats())
        assert np.array_equal(img, made[i][0]) and meta["recipe"] == made[i][1]["recipe"]


def test_empty_corpus_is_a_clear_error(tmp_path, assets):
    empty = _write(tmp_path, "en-empty.txt", "\n  \n")
    cfg = _cfg(tmp_path, text={"lang_probs": {"en": 1.0}, "corpora": {"en": [empty]}})
    with pytest.raises(ValueError, match="en-empty.txt has no usable lines"):
        Resources(cfg)


def test_a_book_on_one_line_is_cut_into_varied_pieces_with_a_warning(tmp_path):
    """Issue 13.4: a 5 MB single-line corpus ran at ~1 sample/s (every draw re-tokenised
    it) and every English line began with the same words."""
    from textsynth.synthesis.text import MAX_LINE_CHARS, Corpus

    words = [f"w{i}" for i in range(200_000)]
    path = tmp_path / "en-book.txt"
    path.write_text(" ".join(words) + "\nshort line\n")
    corpus = Corpus("en", [path])
    assert len(corpus.lines) > 1000 and max(map(len, corpus.lines)) <= MAX_LINE_CHARS
    assert " ".join(corpus.lines[:-1]).split() == words  # cut at spaces, nothing lost
    assert corpus.lines[-1] == "short line"
    assert corpus.notes and "en-book.txt: 1 line(s) longer than" in corpus.notes[0]
    rng = np.random.default_rng(0)
    assert len({corpus.line(rng).split()[0] for _ in range(50)}) > 40  # varied starts


@pytest.mark.parametrize("bad, match", [
    ({"canvs": {}}, "unknown config key 'canvs'"),
    ({"layout": {"lines": 3}}, "layout.lines' must be a list"),
    ({"size": {"bucket_probs": {"tiny": 1.0}}}, "missing from size.buckets"),
    ({"canvas": {"width": 4096}}, r"canvas.width' must be in \[16, 2048\]"),
    # issue 13.5: every value type- and range-checked, naming the key
    ({"text": {"lang_probs": {"en": "high"}}}, "text.lang_probs.en' must be a number"),
    ({"size": {"buckets": {"x": ["a", 8]}, "bucket_probs": {"x": 1}}}, r"size.buckets.x\[0\]' must be an integer"),
    ({"size": {"buckets": {"x": [8]}, "bucket_probs": {"x": 1}}}, "size.buckets.x' must be \\[min, max\\]"),
    ({"size": {"buckets": {"x": [21, 40]}, "bucket_probs": {"x": 1}}}, r"size.buckets.x\[0\]' must be in \[5, 20\]"),
    ({"text": {"corpora": {"en": "/x.txt"}}}, "text.corpora.en' must be a list"),
    ({"seed": 1.5}, "seed' must be an integer"),
    ({"color": {"tries": -1}}, "color.tries' must be in"),
    ({"layout": {"margin": 200}}, "layout.margin' must be in"),
    ({"layout": {"margin": -3}}, "layout.margin' must be in"),
    ({"canvas": {"width": 256.5}}, "canvas.width' must be an integer"),
    ({"color": {"bg_percentiles": [90, 10, 5]}}, "color.bg_percentiles' must be \\[min, max\\]"),
    ({"layout": {"line_spacing": [-1.0, 1.0]}}, r"layout.line_spacing\[0\]' must be in"),
    ({"color": {"min_contrast": -2.0}}, "color.min_contrast' must be in"),
    ({"output": {"png_level": 50}}, "output.png_level' must be in"),
    ({"output": {"jpeg_quality": 500}}, "output.jpeg_quality' must be in"),
    ({"background": {"max_image_pixels": -1}}, "background.max_image_pixels' must be in"),
    ({"text": {"max_text_retries": -1}}, "text.max_text_retries' must be in"),
])
def test_config_errors_name_the_key(tmp_path, bad, match):
    with pytest.raises(ConfigError, match=match):
        _cfg(tmp_path, **bad)


def test_fonts_that_cannot_serve_the_config_are_errors(tmp_path, assets):
    """Issue 13.4: no Han-covering face while zh has weight was silently all-English; a
    missing folder beside a good one was silently ignored."""
    latin = tmp_path / "latin"
    latin.mkdir()
    dejavu = next((assets / "fonts").rglob("DejaVuSans.ttf"))
    (latin / dejavu.name).write_bytes(dejavu.read_bytes())
    with pytest.raises(ValueError, match="text.lang_probs.zh is 0.45 but no font"):
        Resources(_cfg(tmp_path, fonts={"dirs": [str(latin)]}))
    Resources(_cfg(tmp_path, fonts={"dirs": [str(latin)]}, text={"lang_probs": {"en": 1.0}}))
    with pytest.raises(ValueError, match=f"fonts.dirs: {tmp_path / 'nope'} is not a folder"):
        Resources(_cfg(tmp_path, fonts={"dirs": [str(latin), str(tmp_path / "nope")]}))


def test_a_png_bomb_is_too_many_pixels(tmp_path):
    """Issue 13.9: a 30000x30000 PNG header was labelled corrupt_image."""
    from bad_files import png_bomb

    from textsynth.synthesis.backgrounds import BadImage, decode_image

    png_bomb(tmp_path / "bomb.png")
    with pytest.raises(BadImage) as e:
        decode_image(tmp_path / "bomb.png", 40_000_000)
    assert e.value.reason == "too_many_pixels"


def test_corrupt_glyph_data_is_a_per_face_skip_independent_of_history(tmp_path, assets):
    """Issue 13.3: a face whose outlines FreeType can't load used to fail every shard
    without naming the file. Now a draw that meets it is skipped as bad_font:FACE, and a
    sample depends on (config, seed, index) only, not on what the process met before."""
    import shutil

    from bad_files import corrupt_glyphs

    fonts = tmp_path / "fonts"
    fonts.mkdir()
    for name in ("DejaVuSans.ttf", "DejaVuSerif.ttf"):
        shutil.copy(next((assets / "fonts").rglob(name)), fonts / name)
    corrupt_glyphs(next((assets / "fonts").rglob("LiberationSans-Regular.ttf")), fonts / "Broken.ttf")
    cfg = _cfg(tmp_path, fonts={"dirs": [str(fonts)]}, text={"lang_probs": {"en": 1.0}})
    res, stats = Resources(cfg), Stats()
    made = [make_sample(res, 0, i, stats) for i in range(30)]
    assert stats.samples == 30 and stats.skips["bad_font:Broken.ttf#0"] >= 1
    assert not any(ln["font"] == "Broken.ttf#0" for _, m in made for ln in m["lines"])
    for i in (3, 17, 29):  # a fresh process, that never met the broken face before i
        img, meta = make_sample(Resources(cfg), 0, i, Stats())
        assert np.array_equal(img, made[i][0]) and meta["recipe"] == made[i][1]["recipe"]


def test_fpng_output_is_standard_lossless_png(res):
    """Issue 15.5: output.png_encoder fpng writes PNG any decoder reads back exactly."""
    import cv2

    img, _ = make_sample(res, 0, 3, Stats())
    for encoder in ("zlib", "fpng"):
        data = encode(img, "png", png_encoder=encoder)
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        back = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        assert np.array_equal(back, img), encoder
        assert encode(img, "png", png_encoder=encoder) == data  # deterministic
    with pytest.raises(ConfigError, match="output.png_encoder. must be zlib or fpng"):
        load_config(None, output={"png_encoder": "lz4"})
