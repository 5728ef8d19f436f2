"""Sampling: draw every random choice of one sample into a plain-data recipe.

A recipe says which background crop, which layout template, which text in which font at
which em size, where each line's pen and baseline are, which rules (table lines,
underlines) are drawn, and which colour/effects everything gets. Rendering
(:mod:`textsynth.synthesis.render`) is a pure function of it, so a recipe explains and
reproduces its sample. Layout decisions that need glyph metrics (wrapping, fitting) are made
by the templates in :mod:`textsynth.synthesis.layouts`.
"""

from __future__ import annotations

import cv2
import numpy as np

from textsynth.config import background_modes, canvas_sizes
from textsynth.synthesis import degrade, geometry, scene
from textsynth.synthesis.backgrounds import BadImage
from textsynth.synthesis.color import background_range, choose_color, worst_contrast
from textsynth.synthesis.layouts import TEMPLATES
from textsynth.synthesis.layouts.common import Page, Skip, choice
from textsynth.synthesis.paper import draw_paper, ink_color, paper_pixels, plain_color
from textsynth.synthesis.resources import Resources
from textsynth.synthesis.text import joint_lang

# 2: layout templates (``template``, per-line ``block``, ``rules``, justified lines).
# 3: paper backgrounds (``background.mode: paper``, its tone curve over the finished page),
#    scenes (``background.mode: scene``), geometric text (``geometry``), vertical columns (``direction: ttb``), per-line
#    ``quad`` and ``direction`` labels, capture degradations (``degrade``).
# A recipe records the oldest version that draws it; older recipes render the same under
# every newer renderer. The sample-level ``lang`` (recorded with ``text.sample_lang_probs``)
# is a label, not a pixel: it needs no new version.
RECIPE_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)

__all__ = ["RECIPE_VERSION", "READABLE_VERSIONS", "Skip", "sample_recipe"]


HARD_ON_PHOTO = 1.5   # the contrast factor for turned, curved and vertical lines on photos


def sample_recipe(res: Resources, rng: np.random.Generator, counters: dict | None = None) -> dict:
    """Draw one recipe. Raises Skip (with a reason) when the sample can't be made."""
    cfg, counters = res.cfg, (counters if counters is not None else {})
    sizes = canvas_sizes(cfg)   # drawn only when there are several (version-1 draws kept)
    W, H = next(iter(sizes)) if len(sizes) == 1 else choice(rng, sizes)
    col = cfg["color"]

    # Background (a mode is drawn only when the config mixes several: older configs keep their draws).
    modes = background_modes(cfg)
    mode = next(iter(modes)) if len(modes) == 1 else choice(rng, modes)
    scene_geo = None
    if mode in ("photo", "scene"):
        # Drawn from every file found, bad ones included: which photo a draw names must not
        # depend on what this process happened to meet before (resume must be byte-identical).
        # A draw that lands on a bad photo skips this attempt, counted with the reason.
        try:
            name = res.backgrounds.draw(rng)
            if name in res.backgrounds.bad:
                raise Skip(f"bad_background:{res.backgrounds.bad[name]}")
            box = res.backgrounds.sample_box(rng, name, W, H, cfg["background"]["min_crop_frac"])
        except BadImage as e:
            raise Skip(f"bad_background:{e.reason}") from None
        background = {"mode": mode, "file": name, "crop": box, "max_side": res.backgrounds.max_side}
        bg = res.backgrounds.crop(name, box, W, H)
        if mode == "scene":   # a page, board or sign in the photo; the text goes on it
            surface, scene_geo = scene.draw_surface(rng, W, H)
            bg, lit = scene.compose(bg, surface, scene_geo)
            background["surface"] = {**surface, "light": lit}
    elif mode == "paper":
        background = draw_paper(rng)
        bg = paper_pixels(W, H, background)
    else:
        color = plain_color(rng, cfg["background"]["plain_palette"])
        background = {"mode": "plain", "color": color}
        bg = np.empty((H, W, 3), np.uint8)
        bg[...] = color

    # Template (no draw when the config names one: version-1 configs keep their draws);
    # the template draws the size bucket every size of the sample stays inside.
    probs = {k: v for k, v in cfg["layout"]["template_probs"].items() if v > 0}
    template = next(iter(probs)) if len(probs) == 1 else choice(rng, probs)
    # Geometry (drawn only when the config asks for some): the template lays out on a flat
    # page centred in the canvas, small enough that its mapped text stays inside.
    geo, warp = scene_geo, None
    if geo is None and cfg["geometry"]["prob"] > 0 and rng.random() < cfg["geometry"]["prob"]:
        geo = geometry.draw(rng, cfg["geometry"], W, H)
    fw, fh = geo["flat"] if geo else (W, H)
    page = Page(res, rng, counters, fw, fh, whole_words=template != "blocks")
    TEMPLATES[template](page)
    if not page.lines:
        raise Skip("no_room_for_text")
    if geo:
        ox, oy = (W - fw) // 2, (H - fh) // 2
        for line in page.lines:
            line["x"] += ox
            line["baseline"] += oy
        for r in page.rules:
            r["box"] = [r["box"][0] + ox, r["box"][1] + oy, r["box"][2] + ox, r["box"][3] + oy]
        warp = geometry.Warp(geo, W, H)

    # Colours: per line against the background under it (the blocks template, as in
    # version 1), or per block — one colour for a block's lines and rules — re-drawn for a
    # line only where the block's colour is not legible on that line's background.
    per_block = template != "blocks"
    surface = background.get("surface")   # a scene's page, board or sign: its own kind of ink
    printed = mode == "paper" or surface is not None
    block_color: dict[int, list[int]] = {}
    for line in page.lines:
        # Turned and curved text is resampled onto the canvas, which thins its strokes, and
        # a column is read turned on its side: on a photo both need more contrast than flat
        # lines to stay legible (benchmarks/legibility.py)
        need = col["min_contrast"] * (HARD_ON_PHOTO if mode == "photo" and (
            warp or line.get("direction") == "ttb") else 1.0)
        if line.get("direction") == "ttb":
            ink = res.raster(line["font"]).shape_vertical(line["text"], line["em"]).ink_bounds()
        else:
            ink = res.raster(line["font"]).shape(line["text"], line["em"]).ink_bounds()
        x0, y0 = line["x"] + ink[0], line["baseline"] + ink[1]
        x1, y1 = line["x"] + (line.get("justify") or ink[2]), line["baseline"] + ink[3]
        under = bg[max(0, y0):min(H, y1), max(0, x0):min(W, x1)]
        if warp:   # the background under the line's polygon where the map puts it (its
            # enclosing box would also hold the photo around a turned board or page)
            mask = np.zeros((H, W), np.uint8)
            cv2.fillPoly(mask, [np.round(warp.outline(x0, y0, x1, y1)).astype(np.int32)], 1)
            under = bg[mask.astype(bool)] if mask.any() else under
        lum_lo, lum_hi = background_range(under, col["bg_percentiles"])
        color = block_color.get(line["block"]) if per_block else None
        score = worst_contrast(color, lum_lo, lum_hi) if color is not None else -1.0
        if score < need and printed:   # a print, marker or chalk ink when legible
            color = scene.surface_ink(rng, surface) if surface else ink_color(rng)
            score = worst_contrast(color, lum_lo, lum_hi)
            block_color.setdefault(line["block"], color)
        if score < need:
            color, score = choose_color(rng, lum_lo, lum_hi, need, col["tries"])
            block_color.setdefault(line["block"], color)
        effects = {}
        if score < need or rng.random() < col["panel_prob"]:
            # Opposite pole to the text so the panel itself gives the contrast.
            panel = [255 - color[0], 255 - color[1], 255 - color[2]]
            effects["panel"] = {"color": panel, "alpha": 0.85, "pad": max(1, line["px"] // 4)}
            score = worst_contrast(color, *background_range(np.asarray([[panel]], np.uint8)))
        if rng.random() < col["outline_prob"]:
            effects["outline"] = {"color": [255 - c for c in color], "width": 1}
        if rng.random() < col["shadow_prob"]:
            effects["shadow"] = {"color": [255 - c for c in color], "offset": [1, 1]}
        line.update(color=color, contrast=round(score, 3), effects=effects)
    rules = [{"box": r["box"], "color": block_color[r["block"]]}
             for r in page.rules if r["block"] in block_color]
    recipe = {
        # the oldest version whose renderer draws this recipe: version-2 samples stay version 2
        "version": RECIPE_VERSION if background["mode"] == "paper" or geo or template == "vertical" else 2,
        "template": template,
        "canvas": [W, H],
        "background": background,
        "size_bucket": page.bucket,
        "blocks": page.blocks,
        "lines": page.lines,
    }
    if cfg["text"]["sample_lang_probs"]:
        # One language per sample: the label is its blocks' language, so render needs no
        # config (a vertical sample drawn English has Chinese columns: mixed)
        recipe["lang"] = joint_lang(page.blocks[line["block"]]["lang"] for line in page.lines)
    if rules:
        recipe["rules"] = rules
    if geo:
        recipe["geometry"] = geo
    if cfg["degrade"]["prob"] > 0 and rng.random() < cfg["degrade"]["prob"]:
        lo = cfg["size"]["buckets"][page.bucket][0]
        steps = degrade.draw(rng, cfg["degrade"], lo, paper=printed)
        if steps:
            recipe["degrade"] = steps
            recipe["version"] = RECIPE_VERSION
    return recipe
