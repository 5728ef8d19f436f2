"""Sampling: draw every random choice of one sample into a plain-data recipe.

A recipe says which background crop, which text in which font at which em size, where
each line's pen and baseline are, and which colour/effects it gets. Rendering
(:mod:`textsynth.render`) is a pure function of it, so a recipe explains and reproduces
its sample. Layout decisions that need glyph metrics (wrapping, fitting) are made here.
"""

from __future__ import annotations

import re

import numpy as np

from textsynth.backgrounds import BadImage
from textsynth.color import background_range, choose_color, worst_contrast
from textsynth.resources import Resources
from textsynth.text import script_of, wrap

RECIPE_VERSION = 1
_WORDY = re.compile(r"\w\w")  # two letters/digits/hanzi in a row


class Skip(Exception):
    """This sample can't be made; ``reason`` is counted in the stats."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _choice(rng: np.random.Generator, probs: dict) -> str:
    """A key of ``probs`` drawn with probability proportional to its weight."""
    u = rng.random() * sum(probs.values())
    for key, weight in probs.items():
        u -= weight
        if u < 0:
            return key
    return key


def _split(rng: np.random.Generator, total: int, parts: int) -> list[int]:
    """A random composition of ``total`` into ``parts`` positive integers."""
    cuts = np.sort(rng.choice(np.arange(1, total), size=parts - 1, replace=False)) if parts > 1 else []
    edges = [0, *cuts.tolist(), total] if parts > 1 else [0, total]
    return [b - a for a, b in zip(edges, edges[1:])]


def _block_text(res: Resources, rng, lang: str, mode: str, n_lines: int) -> str | list[str]:
    if lang == "mixed":  # a Chinese line with an English phrase inserted at a random point
        zh, en = res.corpora["zh"].line(rng), res.corpora["en"].line(rng).split()
        k = int(rng.integers(1, min(4, len(en)) + 1)) if en else 0
        phrase = " ".join(en[:k])
        cut = int(rng.integers(0, len(zh) + 1))
        return zh[:cut] + " " + phrase + " " + zh[cut:]
    corpus = res.corpora[lang]
    if mode == "paragraph":
        return corpus.passage(rng, min_chars=n_lines * 60)
    return [corpus.line(rng) for _ in range(n_lines)]


def _fit(raster, line: str, em: int, max_width: int) -> str:
    """Trim a line until its shaped width (kerning included) fits the block."""
    while line and raster.shape(line, em).advance > max_width:
        line = line[:-1].rstrip()
    return line


def _pick_text_and_font(res: Resources, rng, lang, mode, n_lines, counters):
    """Resample the text until some face draws all of it; never fall back to tofu."""
    for _ in range(res.cfg["text"]["max_text_retries"]):
        text = _block_text(res, rng, lang, mode, n_lines)
        joined = text if isinstance(text, str) else "".join(text)
        faces = res.fonts.covering(joined)
        if lang == "en":  # English in Latin faces; CJK faces' Latin glyphs serve mixed lines
            faces = [f for f in faces if not f.has_han] or faces
        if faces:
            return text, faces[int(rng.integers(len(faces)))]
        counters["text_resampled_no_font"] = counters.get("text_resampled_no_font", 0) + 1
    raise Skip("no_font_covers_text")


def sample_recipe(res: Resources, rng: np.random.Generator, counters: dict | None = None) -> dict:
    """Draw one recipe. Raises Skip (with a reason) when the sample can't be made."""
    cfg, counters = res.cfg, (counters if counters is not None else {})
    W, H = cfg["canvas"]["width"], cfg["canvas"]["height"]
    lay, col = cfg["layout"], cfg["color"]

    # Background.
    if res.backgrounds is not None:
        # Drawn from every file found, bad ones included: which photo a draw names must not
        # depend on what this process happened to meet before (resume must be byte-identical).
        # A draw that lands on a bad photo skips this attempt, counted with the reason.
        names = res.backgrounds.names
        name = names[int(rng.integers(len(names)))]
        if name in res.backgrounds.bad:
            raise Skip(f"bad_background:{res.backgrounds.bad[name]}")
        try:
            box = res.backgrounds.sample_box(rng, name, W, H, cfg["background"]["min_crop_frac"])
        except BadImage as e:
            raise Skip(f"bad_background:{e.reason}") from None
        background = {"mode": "photo", "file": name, "crop": box, "max_side": res.backgrounds.max_side}
        bg = res.backgrounds.crop(name, box, W, H)
    else:
        color = rng.integers(0, 256, size=3).tolist()
        background = {"mode": "plain", "color": color}
        bg = np.empty((H, W, 3), np.uint8)
        bg[...] = color

    # How many lines, in how many blocks, at which size.
    n_total = int(rng.integers(lay["lines"][0], lay["lines"][1] + 1))
    n_blocks = int(rng.integers(lay["blocks"][0], max(lay["blocks"][0], min(lay["blocks"][1], n_total)) + 1))
    n_blocks = min(n_blocks, n_total)
    bucket = _choice(rng, cfg["size"]["bucket_probs"])
    lo, hi = cfg["size"]["buckets"][bucket]
    margin = lay["margin"]
    avail_w = W - 2 * margin

    blocks = []
    for n_lines in _split(rng, n_total, n_blocks):
        lang = _choice(rng, cfg["text"]["lang_probs"])
        mode = "lines" if lang == "mixed" else _choice(rng, lay["mode_probs"])
        align = _choice(rng, lay["align_probs"])
        px = int(rng.integers(lo, hi + 1))
        spacing = float(rng.uniform(*lay["line_spacing"]))
        bw = int(avail_w * rng.uniform(lay["min_block_width_frac"], 1.0))
        bx = margin + int(rng.integers(0, avail_w - bw + 1))
        text, face = _pick_text_and_font(res, rng, lang, mode, n_lines, counters)
        raster = res.raster(face.name)
        em = raster.em_for_px(px, han=script_of(text if isinstance(text, str) else "".join(text)) != "en")
        width = lambda s, r=raster, e=em: r.advance(s, e)  # noqa: E731
        pieces = [text] if isinstance(text, str) else text
        limit = n_lines if isinstance(text, str) else 1
        lines = [ln for t in pieces for ln in wrap(t, width, bw, limit)]
        lines = [_fit(raster, ln, em, bw) for ln in lines]
        # A line of only punctuation ("--" left by a long word that didn't fit) says nothing.
        lines = [ln for ln in lines if _WORDY.search(ln)]
        if not lines:
            counters["block_without_words"] = counters.get("block_without_words", 0) + 1
            continue
        ascent, descent = raster.line_metrics(em)
        pitch = max(1, round((ascent + descent) * spacing))
        blocks.append(dict(lang=lang, mode=mode, align=align, px=px, spacing=round(spacing, 4),
                           font=face.name, em=em, x=bx, width=bw, lines=lines,
                           ascent=ascent, descent=descent, pitch=pitch))

    # Vertical placement: drop lines from the tallest block until everything fits.
    def height(b):
        return b["ascent"] + b["descent"] + b["pitch"] * (len(b["lines"]) - 1) if b["lines"] else 0
    avail_h = H - 2 * margin
    while sum(height(b) for b in blocks) > avail_h:
        tallest = max(blocks, key=height)
        tallest["lines"].pop()
        counters["lines_dropped_no_room"] = counters.get("lines_dropped_no_room", 0) + 1
    blocks = [b for b in blocks if b["lines"]]
    if not blocks:
        raise Skip("no_room_for_text")
    free = avail_h - sum(height(b) for b in blocks)
    gaps = np.floor(rng.dirichlet(np.ones(len(blocks) + 1)) * free).astype(int)

    lines_out, y = [], margin
    for b, gap in zip(blocks, gaps):
        y += int(gap)
        raster = res.raster(b["font"])
        for j, text in enumerate(b["lines"]):
            baseline = y + b["ascent"] + j * b["pitch"]
            shaped = raster.shape(text, b["em"])
            slack = b["width"] - shaped.advance
            x = b["x"] + {"left": 0, "center": slack // 2, "right": slack}[b["align"]]
            ink = shaped.ink_bounds()
            if ink is None:
                continue
            x0, y0, x1, y1 = x + ink[0], baseline + ink[1], x + ink[2], baseline + ink[3]
            if x0 < 0 or y0 < 0 or x1 > W or y1 > H:  # glyph overhang past the canvas
                counters["lines_dropped_overhang"] = counters.get("lines_dropped_overhang", 0) + 1
                continue
            lum_lo, lum_hi = background_range(bg[y0:y1, x0:x1], col["bg_percentiles"])
            color, score = choose_color(rng, lum_lo, lum_hi, col["min_contrast"], col["tries"])
            effects = {}
            if score < col["min_contrast"] or rng.random() < col["panel_prob"]:
                # Opposite pole to the text so the panel itself gives the contrast.
                panel = [255 - color[0], 255 - color[1], 255 - color[2]]
                effects["panel"] = {"color": panel, "alpha": 0.85, "pad": max(1, b["px"] // 4)}
                score = worst_contrast(color, *background_range(np.asarray([[panel]], np.uint8)))
            if rng.random() < col["outline_prob"]:
                effects["outline"] = {"color": [255 - c for c in color], "width": 1}
            if rng.random() < col["shadow_prob"]:
                effects["shadow"] = {"color": [255 - c for c in color], "offset": [1, 1]}
            lines_out.append({
                "text": text, "lang": script_of(text), "font": b["font"], "em": b["em"],
                "px": b["px"], "x": int(x), "baseline": int(baseline), "color": color,
                "contrast": round(score, 3), "effects": effects,
            })
        y += height(b)
    if not lines_out:
        raise Skip("no_room_for_text")
    return {
        "version": RECIPE_VERSION,
        "canvas": [W, H],
        "background": background,
        "size_bucket": bucket,
        "blocks": [{k: b[k] for k in ("lang", "mode", "align", "px", "spacing", "font", "x", "width")}
                   for b in blocks],
        "lines": lines_out,
    }
