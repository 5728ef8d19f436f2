"""Clarity and compression scores of a crop (OpenCV), measured where the text is.

Whole-crop statistics mostly measure how much of the crop is text: a sharp crop with three
lines has a lower Laplacian variance than a slightly soft one with thirty. So every score is
taken over *text regions*: the OCR line boxes when they are known, otherwise the pixels near
strong edges (a dilated gradient mask), which is where glyph strokes are.

- ``laplacian_var``: variance of the Laplacian over the regions (focus measure).
- ``tenengrad``: mean squared Sobel gradient magnitude over the regions.
- ``sharpness``: Laplacian std / mean gradient magnitude over the regions. Both grow with text
  contrast; their ratio does not, and falls as edges spread out (blur), so it separates soft
  from sharp text whatever its colour.
- ``blockiness``: evidence of earlier JPEG compression (see :func:`blockiness`); whole crop,
  since compression touches every block.
"""

from __future__ import annotations

import cv2
import numpy as np

EDGE_THRESHOLD = 40.0   # Sobel magnitude (0-255 image) that counts as a stroke edge
REGION_DILATE = 3       # px grown around stroke edges to form the text regions
BLOCKINESS_PROBE_Q = 30  # re-encoding quality of the JPEG probe


def gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image


def text_regions(g: np.ndarray, boxes=None) -> np.ndarray:
    """Boolean mask of text pixels: OCR boxes if given, else dilated strong edges."""
    mask = np.zeros(g.shape, np.uint8)
    if boxes:
        for x0, y0, x1, y1 in boxes:
            mask[max(0, int(y0)):int(y1), max(0, int(x0)):int(x1)] = 1
    else:
        gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
        mask = (cv2.magnitude(gx, gy) > EDGE_THRESHOLD * 4).astype(np.uint8)  # ksize-3 Sobel gain is 4
        k = 2 * REGION_DILATE + 1
        mask = cv2.dilate(mask, np.ones((k, k), np.uint8))
    return mask.astype(bool)


def blockiness(g: np.ndarray, probe_quality: int = BLOCKINESS_PROBE_Q) -> float:
    """How much the crop looks already JPEG-compressed at about ``probe_quality`` or lower.

    Re-encoding a JPEG-decoded image on its own 8x8 grid at a similar quality changes it
    little (its DCT coefficients are already quantised), on any other grid phase it changes
    it as much as a clean image. Score = median re-encoding error over the 64 grid phases /
    the smallest one: ~1.0-1.3 for clean crops, 1.4-5 for JPEG q <= 30 (BENCHMARKS.md). The
    phase search finds the grid wherever the crop was cut from the page.
    """
    h, w = (g.shape[0] - 8) // 8 * 8, (g.shape[1] - 8) // 8 * 8
    if h < 16 or w < 16:
        return 1.0
    errors = []
    for dy in range(8):
        for dx in range(8):
            tile = np.ascontiguousarray(g[dy:dy + h, dx:dx + w])
            ok, buf = cv2.imencode(".jpg", tile, [cv2.IMWRITE_JPEG_QUALITY, probe_quality])
            errors.append(float(np.abs(cv2.imdecode(buf, 0).astype(np.int16) - tile).mean()))
    return float(np.median(errors) / max(min(errors), 0.05))


def scores(image: np.ndarray, boxes=None) -> dict[str, float]:
    """All clarity scores of an RGB or gray crop; ``boxes`` are OCR line boxes if known."""
    g = gray(image)
    region = text_regions(g, boxes)
    frac = float(region.mean())
    if frac == 0:
        return {"laplacian_var": 0.0, "tenengrad": 0.0, "sharpness": 0.0,
                "blockiness": blockiness(g), "text_frac": 0.0}
    lap = cv2.Laplacian(g, cv2.CV_32F, ksize=3)[region]
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)[region]
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)[region]
    grad2 = gx * gx + gy * gy
    mean_grad = float(np.sqrt(grad2).mean())
    return {
        "laplacian_var": float(lap.var()),
        "tenengrad": float(grad2.mean()),
        "sharpness": float(lap.std() / mean_grad) if mean_grad > 0 else 0.0,
        "blockiness": blockiness(g),
        "text_frac": frac,
    }
