"""Geometric text: a sample's text layer rotated, put in perspective, bent along an arc or a wave.

The layout templates still lay text out flat, on a page smaller than the canvas and centred
in it; :class:`Warp` then maps that flat layer onto the canvas. Everything the renderer
needs is in the recipe's ``geometry`` entry (a 3x3 matrix for rotation and perspective, the
arc's radius and direction, the wave's amplitude, wavelength and phase), so a recipe
re-renders bit for bit. The flat page is the largest that, once mapped, stays inside the
canvas (:func:`draw`): no line is cut off, and the sizes the layout chose stay what they are
along the baseline (rotation and arcs keep lengths there; perspective changes them by at most
``geometry.max_perspective``).

Labels follow the map: a line's ``quad`` is its flat ink box (grown by half a pixel, the reach
of bilinear sampling) mapped corner by corner, clockwise from the reading-order top-left; a
curved line also gets ``poly``, its box's top and bottom edges sampled and mapped. ``bbox``
stays the exact extent of the ink drawn (:meth:`Warp.patch`).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from textsynth.synthesis.color import LINEAR_TO_SRGB, SRGB_TO_LINEAR, SRGB_TO_LINEAR_4095

KINDS = ("rotate", "perspective", "arc", "wave")
POLY_POINTS = 8          # the fewest points sampled along each long edge of a curved line's poly


def _pick(rng: np.random.Generator, probs: dict) -> str:
    keys = [k for k, v in probs.items() if v > 0]
    w = np.array([probs[k] for k in keys], float)
    return keys[int(rng.choice(len(keys), p=w / w.sum()))]


def draw(rng: np.random.Generator, g: dict, W: int, H: int) -> dict:
    """One geometry for a W x H canvas from the config block ``g``: the kind, its parameters
    and ``flat``, the size of the page the template lays out on (centred in the canvas)."""
    kind = _pick(rng, g["kind_probs"])
    cx, cy = W / 2, H / 2
    if kind == "rotate":
        a = math.radians(float(rng.uniform(-g["max_rotate"], g["max_rotate"])))
        c, s = abs(math.cos(a)), abs(math.sin(a))
        k = min(W / (W * c + H * s), H / (W * s + H * c))
        flat = [int(W * k) - 2, int(H * k) - 2]
        m = cv2.getRotationMatrix2D((cx, cy), math.degrees(a), 1.0)
        return {"kind": kind, "angle": round(math.degrees(a), 3), "flat": flat,
                "matrix": np.vstack([m, [0, 0, 1]]).tolist()}
    if kind == "perspective":
        p = float(rng.uniform(0.3, 1.0)) * g["max_perspective"]
        fw, fh = int(W * (1 - 2 * p)), int(H * (1 - 2 * p))
        x0, y0 = (W - fw) / 2, (H - fh) / 2
        src = np.float32([[x0, y0], [x0 + fw, y0], [x0 + fw, y0 + fh], [x0, y0 + fh]])
        # each corner moves up to p of the canvas in any direction: the quad stays inside
        shift = rng.uniform(-1, 1, size=(4, 2)) * [p * W, p * H]
        dst = np.clip(src + shift, 1, [W - 1, H - 1]).astype(np.float32)
        return {"kind": kind, "strength": round(p, 4), "flat": [fw, fh],
                "matrix": cv2.getPerspectiveTransform(src, dst).tolist()}
    if kind == "arc":
        up = bool(rng.random() < 0.5)
        angle = math.radians(float(rng.uniform(0.3, 1.0)) * g["max_arc"])
        for k in np.arange(0.95, 0.2, -0.05):   # the largest flat page whose arc fits
            fw, fh = int(W * 0.92), int(H * k)
            radius = max(fw / angle, 2.0 * fh)    # R >= 2x the page height: glyphs stretch <= 25%
            geo = {"kind": kind, "up": up, "radius": round(radius, 3), "cx": cx, "cy": cy, "flat": [fw, fh]}
            if Warp(geo, W, H).fits((W - fw) / 2, (H - fh) / 2, fw, fh):
                return geo
        return {"kind": "arc", "up": up, "radius": 4.0 * H, "cx": cx, "cy": cy, "flat": [int(W * 0.9), int(H * 0.2)]}
    amplitude = float(rng.uniform(0.3, 1.0)) * g["max_wave"] * H
    wavelength = float(rng.uniform(0.5, 1.5)) * W
    return {"kind": "wave", "amplitude": round(amplitude, 3), "wavelength": round(wavelength, 3),
            "phase": round(float(rng.uniform(0, 2 * math.pi)), 4),
            "flat": [W - 2, int(H - 2 * math.ceil(amplitude)) - 2]}


class Warp:
    """The map from flat canvas coordinates to the canvas of one geometry."""

    def __init__(self, geo: dict, W: int, H: int):
        self.geo, self.W, self.H = geo, W, H
        self.kind = geo["kind"]
        self.matrix = np.array(geo["matrix"], np.float64) if "matrix" in geo else None

    @property
    def curved(self) -> bool:
        return self.kind in ("arc", "wave")

    # ------------------------------------------------------------------ points
    def points(self, pts) -> np.ndarray:
        """Flat points (N, 2) mapped to the canvas."""
        p = np.asarray(pts, np.float64).reshape(-1, 2)
        if self.matrix is not None:
            return cv2.perspectiveTransform(p[None], self.matrix)[0]
        x, y = p[:, 0], p[:, 1]
        g = self.geo
        if self.kind == "wave":
            return np.stack([x, y + g["amplitude"] * np.sin(2 * np.pi * x / g["wavelength"] + g["phase"])], 1)
        R, cx, cy = g["radius"], g["cx"], g["cy"]
        theta = (x - cx) / R
        if g["up"]:   # centre below: the text bulges upwards, lines above the middle run longer
            rho = R + (cy - y)
            return np.stack([cx + rho * np.sin(theta), cy + R - rho * np.cos(theta)], 1)
        rho = R + (y - cy)
        return np.stack([cx + rho * np.sin(theta), cy - R + rho * np.cos(theta)], 1)

    def _inverse(self, X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Canvas pixel positions -> flat positions (the curved maps; cv2.remap samples there)."""
        g = self.geo
        if self.kind == "wave":
            return X, Y - g["amplitude"] * np.sin(2 * np.pi * X / g["wavelength"] + g["phase"])
        R, cx, cy = g["radius"], g["cx"], g["cy"]
        dx = X - cx
        dy = (cy + R) - Y if g["up"] else Y - (cy - R)
        rho, theta = np.hypot(dx, dy), np.arctan2(dx, dy)
        return cx + R * theta, (cy - (rho - R)) if g["up"] else (cy + (rho - R))

    def fits(self, x0: float, y0: float, w: float, h: float) -> bool:
        """Whether the flat rectangle, mapped, lies inside the canvas (1 px margin)."""
        t = np.linspace(0, 1, 17)
        edge = np.concatenate([np.stack([x0 + t * w, np.full_like(t, y0)], 1),
                               np.stack([x0 + t * w, np.full_like(t, y0 + h)], 1),
                               np.stack([np.full_like(t, x0), y0 + t * h], 1),
                               np.stack([np.full_like(t, x0 + w), y0 + t * h], 1)])
        p = self.points(edge)
        return bool((p >= 1).all() and (p[:, 0] <= self.W - 1).all() and (p[:, 1] <= self.H - 1).all())

    # ------------------------------------------------------------------ images
    def image(self, arr: np.ndarray) -> np.ndarray:
        """A flat canvas-sized array (H, W[, C], float32) mapped onto the canvas."""
        if self.matrix is not None:
            return cv2.warpPerspective(arr, self.matrix, (self.W, self.H), flags=cv2.INTER_LINEAR,
                                       borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        X, Y = np.meshgrid(np.arange(self.W, dtype=np.float64), np.arange(self.H, dtype=np.float64))
        mx, my = self._inverse(X, Y)
        return cv2.remap(arr, mx.astype(np.float32), my.astype(np.float32), cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)

    def patch(self, mask: np.ndarray, x0: int, y0: int) -> tuple[np.ndarray, int, int]:
        """A flat mask whose top-left sits at (x0, y0), mapped: (mapped mask, its x, its y),
        cropped to the canvas around the mapped box; same sampling as :meth:`image`."""
        h, w = mask.shape
        outline = self.outline(x0, y0, x0 + w, y0 + h)
        bx0, by0 = np.floor(outline.min(0)).astype(int) - 1
        bx1, by1 = np.ceil(outline.max(0)).astype(int) + 2
        bx0, by0, bx1, by1 = max(0, bx0), max(0, by0), min(self.W, bx1), min(self.H, by1)
        src = mask.astype(np.float32)
        if self.matrix is not None:
            shift = np.array([[1, 0, -bx0], [0, 1, -by0], [0, 0, 1]], np.float64)
            local = shift @ self.matrix @ np.array([[1, 0, x0], [0, 1, y0], [0, 0, 1]], np.float64)
            out = cv2.warpPerspective(src, local, (bx1 - bx0, by1 - by0), flags=cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        else:
            X, Y = np.meshgrid(np.arange(bx0, bx1, dtype=np.float64), np.arange(by0, by1, dtype=np.float64))
            mx, my = self._inverse(X, Y)
            out = cv2.remap(src, (mx - x0).astype(np.float32), (my - y0).astype(np.float32), cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return out, bx0, by0

    # ------------------------------------------------------------------ labels
    def outline(self, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        """A flat box's outline mapped: 4 corners for straight maps, the sampled top edge
        then the bottom edge backwards for curved ones; clockwise from the top-left.

        Boxes and labels use pixel edges (pixel i spans [i, i+1)); the maps, like OpenCV's
        warps, put pixel i's value at coordinate i: hence the half-pixel shifts."""
        if not self.curved:
            pts = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)
        else:
            t = np.linspace(0, 1, self._samples(x1 - x0))
            xs = x0 + t * (x1 - x0)
            pts = np.concatenate([np.stack([xs, np.full_like(xs, y0)], 1),
                                  np.stack([xs[::-1], np.full_like(xs, y1)], 1)])
        return self.points(pts - 0.5) + 0.5

    def _samples(self, width: float) -> int:
        """Points along a curved edge: one every ~6 px, at least POLY_POINTS."""
        return max(POLY_POINTS, int(math.ceil(width / 6)) + 1)

    def _sag(self, width: float, height: float) -> float:
        """How far a curved edge can bulge past the chord between two of its samples
        (c^2 * curvature / 8, with c stretched by up to 1.3x on the outside of an arc)."""
        if self.kind == "wave":
            curvature = self.geo["amplitude"] * (2 * np.pi / self.geo["wavelength"]) ** 2
        else:
            curvature = 1.0 / max(1.0, self.geo["radius"] - height)
        c = 1.3 * width / (self._samples(width) - 1)
        return c * c * curvature / 8

    def labels(self, box) -> dict:
        """``quad`` (8 numbers) and, for curves, ``poly`` of a flat ink box (pixel edges),
        grown by half a pixel (bilinear sampling spreads ink that far) and, for curves, by how
        far the curve bulges between two sampled points."""
        x0, y0, x1, y1 = box
        g = 0.5 + (self._sag(x1 - x0, y1 - y0) if self.curved else 0.0)
        grown = (x0 - g, y0 - g, x1 + g, y1 + g)
        out = self.outline(*grown)
        if not self.curved:
            return {"quad": _flat(out)}
        return {"quad": _flat(_enclosing_quad(out)), "poly": _flat(out)}


def _flat(pts: np.ndarray) -> list[float]:
    return [round(float(v), 2) for v in np.asarray(pts).reshape(-1)]


def _enclosing_quad(poly: np.ndarray) -> np.ndarray:
    """The smallest rotated rectangle around a curved line's poly, clockwise from its
    reading-order top-left: the corner whose outgoing edge runs most along the text (the
    poly's top edge, first to last point)."""
    rect = cv2.boxPoints(cv2.minAreaRect(poly.astype(np.float32))).astype(np.float64)
    if _signed_area(rect) < 0:   # clockwise on screen (y down) is a positive signed area
        rect = rect[::-1]
    along = poly[len(poly) // 2 - 1] - poly[0]
    # the most parallel edge (unit vectors: for a column, whose text edge is its short top,
    # a long side tilted a few degrees must not win on length)
    edges = [rect[(i + 1) % 4] - rect[i] for i in range(4)]
    start = int(np.argmax([np.dot(e / max(1e-9, np.linalg.norm(e)), along) for e in edges]))
    return np.roll(rect, -start, axis=0)


def _signed_area(p: np.ndarray) -> float:
    x, y = p[:, 0], p[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def flat_quad(box) -> list[float]:
    """The quad of an axis-aligned box [x0, y0, x1, y1]: clockwise from the top-left."""
    x0, y0, x1, y1 = box
    return [float(v) for v in (x0, y0, x1, y0, x1, y1, x0, y1)]


class Layer:
    """Text drawn flat over a transparent canvas, premultiplied in linear light, so it can be
    mapped as a whole and then laid over the background (the same blend as
    :func:`~textsynth.synthesis.color.composite`, in floats)."""

    def __init__(self, W: int, H: int):
        self.W, self.H = W, H
        self.color = np.zeros((H, W, 3), np.float32)   # premultiplied linear RGB, 0..1
        self.alpha = np.zeros((H, W), np.float32)

    def blend(self, mask: np.ndarray, color, x0: int, y0: int) -> None:
        """``color`` with coverage ``mask`` (uint8) over the layer at (x0, y0), clipped."""
        h, w = mask.shape
        t, l, b, r = max(0, y0), max(0, x0), min(self.H, y0 + h), min(self.W, x0 + w)
        if t >= b or l >= r:
            return
        a = mask[t - y0:b - y0, l - x0:r - x0].astype(np.float32) / 255.0
        c = SRGB_TO_LINEAR[np.asarray(color, np.uint8)]
        self.color[t:b, l:r] = c * a[..., None] + self.color[t:b, l:r] * (1 - a[..., None])
        self.alpha[t:b, l:r] = a + self.alpha[t:b, l:r] * (1 - a)

    def fill(self, box, color) -> None:
        x0, y0, x1, y1 = box
        self.blend(np.full((y1 - y0, x1 - x0), 255, np.uint8), color, x0, y0)

    def over(self, img: np.ndarray, warp: Warp) -> np.ndarray:
        """The layer, mapped by ``warp``, laid over ``img`` (uint8 RGB)."""
        color, alpha = warp.image(self.color), warp.image(self.alpha)
        lin = SRGB_TO_LINEAR_4095[img] / 4095.0
        out = color + lin * (1 - alpha[..., None])
        return LINEAR_TO_SRGB[np.clip(np.rint(out * 4095), 0, 4095).astype(np.int32)]
