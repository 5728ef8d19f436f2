"""Legible text colours and gamma-correct alpha compositing.

Contrast is the WCAG ratio (L1 + 0.05) / (L2 + 0.05) on relative luminance. A colour must
reach the threshold against both the darker and the lighter background pixels under a line
(by default the 10th and 90th luminance percentile), so a line stays legible across a busy
photo. Checking only the mean let black text sink into gravel and grass textures (PP-OCRv5
then read nothing); on those, no colour passes and the line gets a panel instead.
"""

from __future__ import annotations

import numpy as np

_SRGB = np.arange(256, dtype=np.float64) / 255.0
SRGB_TO_LINEAR = np.where(_SRGB <= 0.04045, _SRGB / 12.92, ((_SRGB + 0.055) / 1.055) ** 2.4
                          ).astype(np.float32)
SRGB_TO_LINEAR_4095 = SRGB_TO_LINEAR * np.float32(4095.0)
_LIN = np.linspace(0.0, 1.0, 4096)
LINEAR_TO_SRGB = np.round(255 * np.where(_LIN <= 0.0031308, _LIN * 12.92,
                                         1.055 * _LIN ** (1 / 2.4) - 0.055)).astype(np.uint8)
_LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Relative luminance of uint8 sRGB pixels (..., 3) -> (...)."""
    return SRGB_TO_LINEAR[rgb] @ _LUMA


def contrast(l1: float, l2: float) -> float:
    hi, lo = max(l1, l2), min(l1, l2)
    return (hi + 0.05) / (lo + 0.05)


def _contrast(lum: np.ndarray, other: float) -> np.ndarray:
    return (np.maximum(lum, other) + 0.05) / (np.minimum(lum, other) + 0.05)


def worst_contrast(color, bg_lum_lo: float, bg_lum_hi: float) -> float:
    lum = float(luminance(np.asarray(color, dtype=np.uint8)))
    return min(contrast(lum, bg_lum_lo), contrast(lum, bg_lum_hi))


def background_range(region: np.ndarray, percentiles=(10, 90)) -> tuple[float, float]:
    """Low and high percentile luminance of a background region (H, W, 3)."""
    lum = luminance(region.reshape(-1, 3))
    k1, k2 = ((len(lum) - 1) * p // 100 for p in percentiles)
    part = np.partition(lum, [k1, k2])  # np.percentile's overhead dominates on small lines
    return float(part[k1]), float(part[k2])


def choose_color(rng: np.random.Generator, lum_lo: float, lum_hi: float, min_contrast: float,
                 tries: int) -> tuple[list[int], float]:
    """A random colour reaching ``min_contrast``; else the better of black/white.

    Returns (rgb, achieved worst-case contrast). The caller adds a panel when the
    contrast is still too low.
    """
    hues = rng.integers(0, 256, size=(tries, 3))
    # Random colours first, then the same hues darkened and lightened: most lines get a
    # coloured, legible text instead of a fallback to black/white or a panel.
    cands = np.concatenate([hues, hues // 4, 255 - (255 - hues) // 4])
    lum = luminance(cands.astype(np.uint8))
    scores = np.minimum(_contrast(lum, lum_lo), _contrast(lum, lum_hi))
    ok = np.flatnonzero(scores >= min_contrast)
    if len(ok):
        return [int(v) for v in cands[ok[0]]], float(scores[ok[0]])
    black, white = [0, 0, 0], [255, 255, 255]
    sb, sw = worst_contrast(black, lum_lo, lum_hi), worst_contrast(white, lum_lo, lum_hi)
    return (black, sb) if sb >= sw else (white, sw)


def composite(image: np.ndarray, alpha: np.ndarray, color, x0: int, y0: int) -> None:
    """Blend ``color`` into ``image`` at (x0, y0) with coverage ``alpha`` (uint8), in linear light."""
    h, w = alpha.shape
    region = image[y0:y0 + h, x0:x0 + w]
    # Work in 0..4095 linear units so the last step is a single table lookup.
    a = np.multiply(alpha, np.float32(1.0 / 255.0), dtype=np.float32)[..., None]
    c = SRGB_TO_LINEAR_4095[np.asarray(color, dtype=np.uint8)]
    lin = np.take(SRGB_TO_LINEAR_4095, region)
    lin += (c - lin) * a  # bg + (text - bg) * alpha
    lin += 0.5
    region[...] = np.take(LINEAR_TO_SRGB, lin.astype(np.int32))
