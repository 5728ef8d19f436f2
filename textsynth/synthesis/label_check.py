"""Checking a geometric label against the ink it names: does the line's quad (or curve
polygon) contain every inked pixel, and how much larger than the ink's tight polygon is it?

Used by the tests (tests/test_geometry.py) and benchmarks/label_accuracy.py. The ink is
re-drawn flat from the recipe line exactly as the renderer draws it, then mapped by the
sample's geometry, so the check does not trust the label it checks.
"""

from __future__ import annotations

import cv2
import numpy as np

from textsynth.synthesis.geometry import Warp
from textsynth.synthesis.raster import draw_line, shape_line


def line_ink(res, rl: dict) -> tuple[np.ndarray, int, int]:
    """One recipe line's flat ink as the renderer draws it: (mask, x, y) on the flat page."""
    shaped = shape_line(res.raster(rl["font"]), rl)
    ix0, iy0, ix1, iy1 = shaped.ink_bounds()
    mask = np.zeros((iy1 - iy0, ix1 - ix0), np.uint8)
    draw_line(shaped, mask, -ix0, -iy0)
    return mask, rl["x"] + ix0, rl["baseline"] + iy0


def tight_area(warp: Warp, mask: np.ndarray, x0: int, y0: int) -> float:
    """The area of the line's tight ink polygon on the canvas: the convex hull of its flat
    ink pixels (as unit squares), its boundary sampled every pixel and mapped like the ink."""
    pts = np.argwhere(mask > 0)[:, ::-1].astype(np.float32)
    corners = np.concatenate([pts + d for d in ([0, 0], [1, 0], [0, 1], [1, 1])]).astype(np.float32)
    hull = cv2.convexHull(corners)[:, 0].astype(np.float64) + [x0, y0]
    dense = []
    for a, b in zip(hull, np.roll(hull, -1, axis=0)):
        n = max(1, int(np.ceil(np.linalg.norm(b - a))))
        dense.extend(a + (b - a) * k / n for k in range(n))
    mapped = warp.points(np.array(dense) - 0.5) + 0.5   # pixel edges, like the labels
    return cv2.contourArea(mapped.astype(np.float32))


def check_line(res, recipe: dict, ln: dict, rl: dict) -> dict:
    """For a labelled line of a geometric sample: ``outside`` (how far, in px, the worst
    inked pixel's centre lies outside the label; <= 0 when all are inside), ``ratio`` (the
    label's area over the tight ink polygon's), and whether ``bbox`` is the ink's exact extent."""
    shape = np.array(ln.get("poly") or ln["quad"], np.float32).reshape(-1, 2)
    warp = Warp(recipe["geometry"], *recipe["canvas"])
    flat, fx, fy = line_ink(res, rl)
    mask, mx, my = warp.patch(flat, fx, fy)
    ys, xs = np.nonzero(mask > 0)
    inside = min(cv2.pointPolygonTest(shape, (float(mx + x + 0.5), float(my + y + 0.5)), True)
                 for x, y in zip(xs, ys))
    return {"outside": -inside,
            "ratio": cv2.contourArea(shape) / tight_area(warp, flat, fx, fy),
            "bbox_exact": ln["bbox"] == [mx + xs.min(), my + ys.min(), mx + xs.max() + 1, my + ys.max() + 1]}
