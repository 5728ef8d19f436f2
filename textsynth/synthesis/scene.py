"""Text in a scene: a page, board or sign carrying the text, placed into a photo in perspective.

``background.mode: scene`` draws a photo crop as ``photo`` does, then a *surface* (paper, a
whiteboard or chalkboard, a coloured sign) that the layout template fills as a flat page.
One homography maps that page onto a convex quad inside the canvas; the surface gets the
photo's light (its brightness and colour cast under the quad) and a soft shadow on the photo,
and the text layer follows the same map (:mod:`.geometry`). Everything is recorded in the
recipe (the surface's parameters, the light, the shadow, the matrix), so it re-renders bit
for bit.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from textsynth.synthesis.color import luminance
from textsynth.synthesis.paper import draw_paper, ink_color, paper_pixels

# (kind, colour or None for paper, weight)
SURFACES = [("paper", None, 0.5), ("whiteboard", (236, 238, 236), 0.15), ("chalkboard", (38, 56, 46), 0.1),
            ("sign", (22, 84, 160), 0.08), ("sign", (196, 32, 36), 0.06), ("sign", (252, 204, 40), 0.05),
            ("sign", (24, 110, 60), 0.06)]


def draw_surface(rng: np.random.Generator, W: int, H: int) -> tuple[dict, dict]:
    """A surface and the geometry placing it: (surface, geometry). The flat page is the
    surface itself, centred in the canvas as every geometry's flat page is."""
    w = np.array([s[2] for s in SURFACES])
    kind, rgb, _ = SURFACES[int(rng.choice(len(SURFACES), p=w / w.sum()))]
    surface = {"kind": kind}
    if kind == "paper":
        surface["paper"] = {k: v for k, v in draw_paper(rng).items() if k != "mode"}
    else:
        surface["color"] = np.clip(np.array(rgb) + rng.integers(-8, 9, size=3), 0, 255).astype(int).tolist()
    # the page: 55-85% of the canvas each way, placed as a quad: scaled by 0.75-1, turned up
    # to 25 degrees, its corners moved up to 12% for perspective, all inside the canvas
    fw, fh = int(W * rng.uniform(0.55, 0.85)), int(H * rng.uniform(0.55, 0.85))
    ox, oy = (W - fw) // 2, (H - fh) // 2
    src = np.float32([[ox, oy], [ox + fw, oy], [ox + fw, oy + fh], [ox, oy + fh]])
    for _ in range(20):
        angle = math.radians(rng.uniform(-25, 25))
        scale = rng.uniform(0.75, 1.0)
        c, s = math.cos(angle) * scale, math.sin(angle) * scale
        centre = np.array([W * rng.uniform(0.4, 0.6), H * rng.uniform(0.4, 0.6)])
        rel = src - [W / 2, H / 2]
        dst = rel @ np.array([[c, s], [-s, c]]) + centre
        dst += rng.uniform(-0.12, 0.12, size=(4, 2)) * [fw, fh]
        if (dst >= 1).all() and (dst[:, 0] <= W - 1).all() and (dst[:, 1] <= H - 1).all():
            break
    else:   # nothing fitted: the page straight, shrunk into the middle
        scale = 0.8
        dst = (src - [W / 2, H / 2]) * scale + [W / 2, H / 2]
    # the flat page is laid out at the size it is shown at, so the map is about 1:1 (turn and
    # perspective only) and a line's px is its size in the image, not a size before shrinking
    fw, fh = max(8, round(fw * scale)), max(8, round(fh * scale))
    ox, oy = (W - fw) // 2, (H - fh) // 2
    src = np.float32([[ox, oy], [ox + fw, oy], [ox + fw, oy + fh], [ox, oy + fh]])
    matrix = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    surface["shadow"] = {"offset": [int(rng.integers(-4, 5)), int(rng.integers(1, 6))],
                         "blur": round(float(rng.uniform(1.5, 5.0)), 2),
                         "strength": round(float(rng.uniform(0.15, 0.45)), 3)}
    return surface, {"kind": "perspective", "flat": [fw, fh], "matrix": matrix.tolist()}


# what writes on each kind of surface: markers on whiteboards (the print inks: black, blue,
# red), chalk on chalkboards, white or black lettering on signs (whichever reads)
CHALKS = [(236, 236, 228), (246, 236, 160), (200, 226, 246), (246, 200, 210)]


def surface_ink(rng: np.random.Generator, surface: dict) -> list[int]:
    """An ink that belongs on ``surface`` (the recipe keeps it only if it is legible there)."""
    kind = surface["kind"]
    if kind in ("paper", "whiteboard"):
        return ink_color(rng)
    if kind == "chalkboard":
        return list(CHALKS[int(rng.integers(len(CHALKS)))])
    return [250, 250, 250] if luminance(np.array(surface["color"])) < 0.4 else [20, 20, 20]


def light(photo: np.ndarray, mask: np.ndarray) -> dict:
    """The photo's light under the quad (``mask``): a gain (brightness against a lit page)
    and a colour cast, each kept moderate so the surface still reads as itself."""
    region = photo[mask > 0.5]
    if not len(region):
        return {"gain": 1.0, "cast": [1.0, 1.0, 1.0]}
    lum = float(luminance(region.astype(np.uint8)).mean())
    mean = region.reshape(-1, 3).mean(0) + 1.0
    cast = 0.7 + 0.3 * mean / mean.mean()
    return {"gain": round(float(np.clip(0.55 + 0.9 * lum, 0.6, 1.1)), 3), "cast": [round(float(v), 3) for v in cast]}


def compose(photo: np.ndarray, surface: dict, geo: dict, lit: dict | None = None) -> tuple[np.ndarray, dict]:
    """The photo with the surface's shadow and the lit, mapped surface on it; returns the
    image and the light used (``lit``, or measured from the photo when None)."""
    H, W = photo.shape[:2]
    fw, fh = geo["flat"]
    ox, oy = (W - fw) // 2, (H - fh) // 2
    flat = np.zeros((H, W, 3), np.float32)
    if surface["kind"] == "paper":
        flat[oy:oy + fh, ox:ox + fw] = paper_pixels(fw, fh, surface["paper"])
    else:
        flat[oy:oy + fh, ox:ox + fw] = surface["color"]
    ones = np.zeros((H, W), np.float32)
    ones[oy:oy + fh, ox:ox + fw] = 1.0
    m = np.array(geo["matrix"], np.float64)
    warp = lambda a: cv2.warpPerspective(a, m, (W, H), flags=cv2.INTER_LINEAR,  # noqa: E731
                                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    alpha, color = warp(ones), warp(flat)
    lit = lit or light(photo, alpha)
    out = photo.astype(np.float32)
    sh = surface["shadow"]
    dx, dy = sh["offset"]
    moved = cv2.warpAffine(alpha, np.float32([[1, 0, dx], [0, 1, dy]]), (W, H), borderValue=0)
    shadow = cv2.GaussianBlur(moved, (0, 0), sh["blur"])
    out *= (1 - sh["strength"] * shadow)[..., None]
    color = color * lit["gain"] * np.array(lit["cast"], np.float32)
    out = out * (1 - alpha[..., None]) + color * alpha[..., None]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), lit
