"""Rendering: recipe -> pixels + labels, a pure function of the recipe.

Labels follow the sample contract (docs/architecture.md §3): line boxes are the exact ink extent
``[x0, y0, x1, y1]`` with exclusive ends (pixel edges), measured from the glyph bitmaps
actually drawn.
"""

from __future__ import annotations

import cv2
import numpy as np

from textsynth.synthesis import degrade
from textsynth.synthesis.color import composite
from textsynth.synthesis.geometry import Layer, Warp, flat_quad
from textsynth.synthesis.layouts.common import Skip
from textsynth.synthesis.paper import apply_tone, paper_pixels
from textsynth.synthesis.raster import draw_line, shape_line
from textsynth.synthesis.recipe import READABLE_VERSIONS
from textsynth.synthesis.resources import Resources
from textsynth.synthesis.scene import compose
from textsynth.synthesis.text import joint_lang


def background_pixels(res: Resources, recipe: dict) -> np.ndarray:
    W, H = recipe["canvas"]
    bg = recipe["background"]
    if bg["mode"] == "plain":
        img = np.empty((H, W, 3), np.uint8)
        img[...] = bg["color"]
        return img
    if bg["mode"] == "paper":
        return paper_pixels(W, H, bg)
    if bg["max_side"] != res.backgrounds.max_side:
        raise ValueError(f"recipe crops photos scaled to {bg['max_side']} px, this renderer "
                         f"scales them to {res.backgrounds.max_side} px (different canvas?)")
    photo = res.backgrounds.crop(bg["file"], bg["crop"], W, H)
    if bg["mode"] == "scene":
        return compose(photo, bg["surface"], recipe["geometry"], bg["surface"]["light"])[0]
    return photo


class RecipeVersionError(ValueError):
    pass


def render(res: Resources, recipe: dict, char_boxes: bool = False) -> tuple[np.ndarray, dict]:
    """Draw the recipe. Returns (RGB uint8 image, metadata dict)."""
    version = recipe.get("version")
    if version not in READABLE_VERSIONS:
        raise RecipeVersionError(
            f"recipe version {version!r} is not one this textsynth renders "
            f"({', '.join(map(str, READABLE_VERSIONS))}); re-make the sample with the job's "
            f"config and seed instead (recipe seed {recipe.get('seed')})")
    W, H = recipe["canvas"]
    img = background_pixels(res, recipe)
    # Flat text is blended straight into the image; geometric text into a layer that is
    # mapped onto the canvas as a whole and then laid over the background.
    warp = Warp(recipe["geometry"], W, H) if recipe.get("geometry") else None
    paint = Layer(W, H) if warp else _ImagePainter(img)
    for rule in recipe.get("rules", ()):   # table rules, underlines, bars: under the text
        paint.fill(rule["box"], rule["color"])
    lines_meta = []
    ink_pixels = np.zeros((H, W), bool)
    for line in recipe["lines"]:
        shaped = shape_line(res.raster(line["font"]), line)
        ix0, iy0, ix1, iy1 = shaped.ink_bounds()
        x0, y0 = line["x"] + ix0, line["baseline"] + iy0
        mask = np.zeros((iy1 - iy0, ix1 - ix0), np.uint8)
        draw_line(shaped, mask, -ix0, -iy0)
        fx = line["effects"]
        if "panel" in fx:
            p = fx["panel"]["pad"]
            px0, py0 = max(0, x0 - p), max(0, y0 - p)
            px1, py1 = min(W, x0 + mask.shape[1] + p), min(H, y0 + mask.shape[0] + p)
            a = np.full((py1 - py0, px1 - px0), round(255 * fx["panel"]["alpha"]), np.uint8)
            paint.blend(a, fx["panel"]["color"], px0, py0)
        if "shadow" in fx:
            dx, dy = fx["shadow"]["offset"]
            paint.blend(mask, fx["shadow"]["color"], x0 + dx, y0 + dy)
        if "outline" in fx:
            k = 2 * fx["outline"]["width"] + 1
            pad = fx["outline"]["width"]
            big = cv2.dilate(np.pad(mask, pad), np.ones((k, k), np.uint8))
            paint.blend(big, fx["outline"]["color"], x0 - pad, y0 - pad)
        paint.blend(mask, line["color"], x0, y0)
        flat_box = [x0, y0, x0 + mask.shape[1], y0 + mask.shape[0]]
        if warp:
            mapped, mx, my = warp.patch(mask, x0, y0)
            ys, xs = np.nonzero(mapped > 0)
            if not len(xs):
                raise Skip("geometry_line_vanished")
            ink_pixels[my:my + mapped.shape[0], mx:mx + mapped.shape[1]] |= mapped > 0
            meta = {"text": line["text"], "lang": line_lang(recipe, line),
                    "bbox": [int(mx + xs.min()), int(my + ys.min()),
                             int(mx + xs.max()) + 1, int(my + ys.max()) + 1],
                    "font": line["font"], "px": line["px"], **warp.labels(flat_box),
                    "direction": line.get("direction", "ltr")}
        else:
            ink_pixels[y0:y0 + mask.shape[0], x0:x0 + mask.shape[1]] |= mask > 0
            meta = {"text": line["text"], "lang": line_lang(recipe, line), "bbox": flat_box,
                    "font": line["font"], "px": line["px"]}
            if version >= 3:   # every line of a version-3 sample has a quad and a direction
                meta.update(quad=flat_quad(flat_box), direction=line.get("direction", "ltr"))
        if char_boxes:
            meta["chars"] = _char_boxes(shaped, line, warp)
        lines_meta.append(meta)
    if warp:
        img = paint.over(img, warp)
    if recipe["background"]["mode"] == "paper":   # the capture's tone curve, ink included
        img = apply_tone(img, recipe["background"]["tone"])
    if recipe.get("degrade"):                     # camera or scanner, last of all
        img = degrade.apply(img, recipe["degrade"])

    char_sizes = [ln["px"] for ln in recipe["lines"] for c in ln["text"] if not c.isspace()]
    char_px = float(np.median(char_sizes))
    bg = recipe["background"]
    meta = {
        "source": "synth",
        "lang": sample_lang(recipe),
        "width": W,
        "height": H,
        "text": "\n".join(ln["text"] for ln in recipe["lines"]),
        "lines": lines_meta,
        "char_px": char_px,
        "size_bucket": recipe["size_bucket"],
        "template": recipe.get("template", "blocks"),
        "recipe": recipe,
        "origin": ({"background": bg["file"], "crop": bg["crop"]} if bg["mode"] in ("photo", "scene")
                   else {"background": None, "color": bg["color"]}),
        "scores": {"min_contrast": min(ln["contrast"] for ln in recipe["lines"]),
                   "ink_frac": round(float(ink_pixels.mean()), 5)},
    }
    return img, meta


def line_lang(recipe: dict, line: dict) -> str:
    """The language (en, zh, mixed) of the block a line was drawn from; its text may still
    hold no Han (a number in a Chinese table). Version-1 recipes name no block per line:
    there, the script of the line's text."""
    return recipe["blocks"][line["block"]]["lang"] if "block" in line else line["lang"]


def sample_lang(recipe: dict) -> str:
    """The sample's label: the recipe's ``lang`` when the config drew one language per sample
    (``text.sample_lang_probs``), else the script of its lines' text (``script_of``) — one
    language when all lines agree, else mixed (blocks drawn in different languages, or a
    Chinese line with a Latin word, make a mixed sample)."""
    return recipe.get("lang") or joint_lang(ln["lang"] for ln in recipe["lines"])


class _ImagePainter:
    """Flat text: blended straight into the image (rules are solid fills)."""

    def __init__(self, img: np.ndarray):
        self.img = img

    def fill(self, box, color) -> None:
        x0, y0, x1, y1 = box
        self.img[y0:y1, x0:x1] = color

    def blend(self, mask, color, x0, y0) -> None:
        H, W = self.img.shape[:2]
        h, w = mask.shape
        t, l, b, r = max(0, y0), max(0, x0), min(H, y0 + h), min(W, x0 + w)
        if t < b and l < r:
            composite(self.img, np.ascontiguousarray(mask[t - y0:b - y0, l - x0:r - x0]), color, l, t)


def _char_boxes(shaped, line, warp: Warp | None = None) -> list[dict]:
    """Per-character ink boxes: glyphs grouped by the character (cluster) they came from."""
    boxes: dict[int, list[int]] = {}
    for g, x, y, cluster in shaped.glyphs:
        if not g.bitmap.size:
            continue
        b = [line["x"] + x + g.left, line["baseline"] + y - g.top]
        b += [b[0] + g.bitmap.shape[1], b[1] + g.bitmap.shape[0]]
        cur = boxes.get(cluster)
        boxes[cluster] = b if cur is None else [min(cur[0], b[0]), min(cur[1], b[1]),
                                                max(cur[2], b[2]), max(cur[3], b[3])]
    text = line["text"]
    starts = sorted(boxes)
    out = []
    for i, s in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        if warp is None:
            out.append({"text": text[s:end].rstrip(), "bbox": boxes[s]})
            continue
        quad = warp.labels(boxes[s])["quad"]   # a character's box mapped: its quad, and the box around that
        xs, ys = quad[0::2], quad[1::2]
        out.append({"text": text[s:end].rstrip(), "quad": quad,
                    "bbox": [int(np.floor(min(xs))), int(np.floor(min(ys))), int(np.ceil(max(xs))), int(np.ceil(max(ys)))]})
    return out


def encode_output(img: np.ndarray, out: dict) -> bytes:
    """Encode with a config's ``output`` settings."""
    return encode(img, out["format"], out["png_level"], out["jpeg_quality"], out["png_encoder"])


def encode(img: np.ndarray, fmt: str = "png", png_level: int = 1, jpeg_quality: int = 95,
           png_encoder: str = "zlib") -> bytes:
    """Encode RGB pixels; deterministic for a given input and settings. ``png_encoder``
    "fpng" writes PNG with the fpng library (a fast, fixed deflate; ``png_level`` unused)."""
    if fmt == "png" and png_encoder == "fpng":
        import fpng

        return fpng.from_ndarray(np.ascontiguousarray(img))
    bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    if fmt == "png":
        ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, png_level])
    elif fmt == "jpg":
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    elif fmt == "webp":
        ok, buf = cv2.imencode(".webp", bgr, [cv2.IMWRITE_WEBP_QUALITY, 101])  # 101 = lossless
    else:
        raise ValueError(f"unknown image format {fmt!r}")
    if not ok:
        raise RuntimeError(f"encoding to {fmt} failed")
    return buf.tobytes()
