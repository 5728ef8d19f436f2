"""Capture degradations: what a camera or scanner does to a finished page, off by default.

``degrade.prob`` of the samples get a few steps, each drawn on its own with its weight in
``degrade.step_probs``: defocus, motion blur, sensor noise, JPEG re-compression, uneven
lighting, bleed-through (the mirrored page showing faintly through thin paper) and, on
paper, a print halftone (the page's greys as a 45-degree dot screen). Every
step and its parameters go into the recipe (``degrade``), applied in order after everything
else, so a sample re-renders bit for bit. Labels do not move: none of the steps changes
geometry (scanner skew is ``geometry``'s rotation).

Strengths are capped per size bucket, by the bucket's smallest size: 5 px text survives far
less blur than 17 px text. ``degrade.strength`` (0..1) scales every cap; at 1 the caps are
the largest that benchmarks/legibility.py measured readable (PP-OCRv5 NED >= 0.95 on 14-20 px
lines with every step forced: motion blur was the limit, 0.84 at 0.35 px per px of text
before, 0.97 at 0.10).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

STEPS = ("defocus", "motion", "noise", "jpeg", "lighting", "bleed", "halftone")


def caps(px_min: int, strength: float) -> dict:
    """The strongest setting of each step for text whose smallest size is ``px_min``."""
    return {"defocus": 0.06 * px_min * strength,             # Gaussian sigma, px
            "motion": 0.10 * px_min * strength,              # blur length, px
            "noise": 8.0 * strength,                         # sigma, grey levels
            "jpeg": max(20, round(95 - 3 * px_min * strength)),   # the lowest quality
            "lighting": min(0.6, 0.35 * strength),           # darkest corner's loss of light
            "bleed": min(0.3, 0.12 * strength),              # opacity of the page behind
            "halftone": min(0.6, 0.4 * strength)}            # share of the screened page


def draw(rng: np.random.Generator, cfg: dict, px_min: int, paper: bool) -> list[dict]:
    """The steps of one sample (possibly none), with parameters within the caps; bleed-through
    and halftone only on paper."""
    cap = caps(px_min, cfg["strength"])
    steps = []
    for kind in STEPS:
        if rng.random() >= cfg["step_probs"].get(kind, 0.0) or (kind in ("bleed", "halftone") and not paper):
            continue
        u = float(rng.uniform(0.2, 1.0))
        if kind == "defocus":
            steps.append({"kind": kind, "sigma": round(u * cap["defocus"], 3)})
        elif kind == "motion":
            steps.append({"kind": kind, "length": round(max(1.0, u * cap["motion"]), 2),
                          "angle": round(float(rng.uniform(0, 180)), 1)})
        elif kind == "noise":
            steps.append({"kind": kind, "sigma": round(u * cap["noise"], 2), "seed": int(rng.integers(2 ** 31))})
        elif kind == "jpeg":
            steps.append({"kind": kind, "quality": int(round(95 - u * (95 - cap["jpeg"])))})
        elif kind == "lighting":
            steps.append({"kind": kind, "amount": round(u * cap["lighting"], 3),
                          "angle": round(float(rng.uniform(0, 360)), 1)})
        elif kind == "bleed":
            steps.append({"kind": kind, "alpha": round(u * cap["bleed"], 3), "blur": round(float(rng.uniform(0.5, 1.5)), 2)})
        else:
            steps.append({"kind": kind, "amount": round(u * cap["halftone"], 3),
                          "period": round(float(rng.uniform(3.0, 5.0)), 2)})
    # a blur too small to move a pixel is not a step (small text gets small caps)
    return [s for s in steps if not (s["kind"] == "defocus" and s["sigma"] < 0.4
                                      or s["kind"] == "motion" and s["length"] < 1.5)]


def apply(img: np.ndarray, steps: list[dict]) -> np.ndarray:
    """``img`` (RGB uint8) with the steps applied in order."""
    for s in steps:
        img = _STEP[s["kind"]](img, s)
    return img


def _defocus(img, s):
    return cv2.GaussianBlur(img, (0, 0), s["sigma"]) if s["sigma"] > 0 else img


def _motion(img, s):
    n = int(math.ceil(s["length"])) | 1
    k = np.zeros((n, n), np.float32)
    c = n // 2
    dx, dy = math.cos(math.radians(s["angle"])), math.sin(math.radians(s["angle"]))
    for t in np.linspace(-s["length"] / 2, s["length"] / 2, 4 * n):
        k[int(round(c + t * dy)), int(round(c + t * dx))] = 1.0
    return cv2.filter2D(img, -1, k / k.sum(), borderType=cv2.BORDER_REFLECT)


def _noise(img, s):
    noise = np.random.default_rng(s["seed"]).normal(0, s["sigma"], img.shape)
    return np.clip(img + noise + 0.5, 0, 255).astype(np.uint8)


def _jpeg(img, s):
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, s["quality"]])
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _lighting(img, s):
    """A linear fall-off of light across the page, darkest towards ``angle``."""
    H, W = img.shape[:2]
    a = math.radians(s["angle"])
    x, y = np.meshgrid(np.linspace(-1, 1, W, dtype=np.float32), np.linspace(-1, 1, H, dtype=np.float32))
    ramp = (x * math.cos(a) + y * math.sin(a) + 1.414) / 2.828      # 0..1 towards the dark side
    return np.clip(img * (1 - s["amount"] * ramp)[..., None] + 0.5, 0, 255).astype(np.uint8)


def _bleed(img, s):
    """The page's mirror image, blurred, showing through as if printed on the back."""
    back = cv2.GaussianBlur(img[:, ::-1], (0, 0), s["blur"]).astype(np.float32)
    dark = 255.0 - back                                  # only the back's ink shows through
    return np.clip(img - s["alpha"] * dark + 0.5, 0, 255).astype(np.uint8)


def _halftone(img, s):
    """The page's tones as a clustered-dot screen at 45 degrees, blended in by ``amount``.
    The screen is computed at the output's own resolution and thresholded softly (a ramp one
    pixel wide), so dots are anti-aliased and no periodic pattern is resampled: nothing to
    beat against the pixel grid (moire-free). Solid ink and blank paper stay as they are;
    only greys turn into dots."""
    H, W = img.shape[:2]
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    w = 2 * math.pi / s["period"]
    u, v = (x + y) * (w / math.sqrt(2)), (x - y) * (w / math.sqrt(2))
    screen = 0.5 + 0.25 * (np.cos(u) + np.cos(v))              # 0..1 dot threshold
    tone = img.astype(np.float32) / 255.0
    dots = np.clip((tone - screen[..., None]) * (s["period"] / 1.5) + 0.5, 0, 1)
    mid = 4 * tone * (1 - tone)              # 0 at blank paper and solid ink, 1 at mid-grey
    out = tone + s["amount"] * mid * (dots - tone)
    return np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)


_STEP = {"defocus": _defocus, "motion": _motion, "noise": _noise, "jpeg": _jpeg,
         "lighting": _lighting, "bleed": _bleed, "halftone": _halftone}
