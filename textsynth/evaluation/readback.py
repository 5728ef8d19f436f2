"""Read-back legibility of synthetic samples: OCR each labelled line and compare it with the
text the renderer drew (NED, report eq. 5).

Each line is read from its own crop (its ink box plus a small margin), so a line is judged
alone, whatever its neighbours in dense layouts. :func:`readback` runs the whole OCR
(detection and recognition) on that box; :func:`read_quads` only recognises, from the crop
its label rectifies (quad, curve polygon, vertical column turned), which is what turned,
perspective, curved and vertical text needs. Used by the tests and by
``benchmarks/readback.py`` to check that a layout template stays legible at the sizes where
OCR is reliable (>= 14 px).
"""

from __future__ import annotations

from collections import defaultdict

import cv2
import numpy as np

from textsynth.metrics import ned
from textsynth.synthesis.generate import Stats, make_sample
from textsynth.synthesis.recipe import Skip
from textsynth.synthesis.resources import Resources


MARKERS = "•◦–▪·*"   # list bullets: symbols, not text, and read inconsistently by OCR


def normal(s: str, lang: str) -> str:
    """Compare text the way OCR gives it: a leading list bullet dropped, spaces collapsed
    (the detector may split a line at a wide gap), none at all in Chinese (PP-OCR drops them)."""
    s = " ".join(s.split()).lstrip(MARKERS + " ")
    return s.replace(" ", "") if lang != "en" else s


def line_crop(img: np.ndarray, bbox: list[int], pad: tuple[int, int], border: int = 12) -> np.ndarray:
    """The line's ink box plus ``pad`` (x, y) of its surroundings, framed by a ``border`` of
    its median colour: the detector misses a short word that fills a tiny image."""
    x0, y0, x1, y1 = bbox
    crop = img[max(0, y0 - pad[1]):y1 + pad[1], max(0, x0 - pad[0]):x1 + pad[0]]
    fill = np.median(crop.reshape(-1, 3), axis=0).tolist()
    return cv2.copyMakeBorder(np.ascontiguousarray(crop), border, border, border, border,
                              cv2.BORDER_CONSTANT, value=fill)


def readback(res: Resources, ocr, seed: int, num: int, min_px: int = 14, max_lines: int = 12,
             pad: tuple[int, int] = (4, 2)) -> dict:
    """Mean NED over the lines of at least ``min_px`` in ``num`` samples (at most
    ``max_lines`` per sample), overall and by template and language."""
    by: dict[tuple[str, str], list[float]] = defaultdict(list)
    worst: list[tuple[float, str, str]] = []
    for i in range(num):
        try:
            img, meta = make_sample(res, seed, i, Stats())
        except Skip:
            continue
        lines = [ln for ln in meta["lines"] if ln["px"] >= min_px][:max_lines]
        for ln in lines:
            crop = line_crop(img, ln["bbox"], pad)
            lang = "en" if all(ord(c) < 0x2E80 for c in ln["text"]) else "zh"
            score = ned(normal(ocr.read_text(crop), lang), normal(ln["text"], lang))
            by[(meta["template"], lang)].append(score)
            worst.append((score, ln["text"], meta["template"]))
    scores = [s for v in by.values() for s in v]
    return {"lines": len(scores), "mean_ned": float(np.mean(scores)) if scores else None,
            "by": {f"{t}/{lang}": {"lines": len(v), "mean_ned": round(float(np.mean(v)), 4)}
                   for (t, lang), v in sorted(by.items())},
            "worst": sorted(worst)[:5]}


def read_quads(res: Resources, recognizer, seed: int, num: int, min_px: int = 14,
               max_lines: int = 12) -> dict:
    """Like :func:`readback`, but each line is read by recognition alone from the crop its
    label rectifies (``textsynth.ocr.line_reading_crop``); by template and language, plus
    the share of lines under 0.8 NED and the worst five."""
    from textsynth.ocr import line_reading_crop

    by: dict[tuple[str, str], list[float]] = defaultdict(list)
    worst: list[tuple[float, str, str, str]] = []
    skips = 0
    for i in range(num):
        try:
            img, meta = make_sample(res, seed, i, Stats())
        except Skip:
            skips += 1
            continue
        lines = [ln for ln in meta["lines"] if ln["px"] >= min_px][:max_lines]
        reads = recognizer.read([line_reading_crop(img, ln) for ln in lines])
        for ln, (text, _) in zip(lines, reads):
            lang = "en" if all(ord(c) < 0x2E80 for c in ln["text"]) else "zh"
            score = ned(normal(text, lang), normal(ln["text"], lang))
            by[(meta["template"], lang)].append(score)
            worst.append((score, ln["text"], text, meta["template"]))
    scores = [s for v in by.values() for s in v]
    return {"lines": len(scores), "skipped_samples": skips,
            "mean_ned": round(float(np.mean(scores)), 4) if scores else None,
            "below_0.8": round(float(np.mean(np.array(scores) < 0.8)), 4) if scores else None,
            "by": {f"{t}/{lang}": {"lines": len(v), "mean_ned": round(float(np.mean(v)), 4)}
                   for (t, lang), v in sorted(by.items())},
            "worst": sorted(worst)[:5]}
