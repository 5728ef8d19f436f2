"""Reconstructions to evaluate: built-in references and trainer checkpoints.

A *model spec* names a function from an (H, W, 3) uint8 RGB image to its reconstruction:

- ``identity``: the image itself (NED 1.0, PSNR inf: the metric's ceiling);
- ``bicubic-fN``: bicubic down-sampling by N then bicubic up-sampling back, the information
  a latent grid N times coarser keeps without learning anything (N = 8, 16, 32, ...);
- ``jpeg-qN``: JPEG at quality N;
- anything else: a checkpoint file of ``textsynth train`` (run on CPU, or GPU if present).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

Reconstructor = Callable[[np.ndarray], np.ndarray]


def bicubic(factor: int) -> Reconstructor:
    def run(img: np.ndarray) -> np.ndarray:
        h, w = img.shape[:2]
        small = cv2.resize(img, (max(1, round(w / factor)), max(1, round(h / factor))),
                           interpolation=cv2.INTER_CUBIC)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return run


def jpeg(quality: int) -> Reconstructor:
    def run(img: np.ndarray) -> np.ndarray:
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, quality])
        return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return run


def load(spec: str) -> Reconstructor:
    """The reconstructor a model spec names; a ValueError says what specs exist."""
    if spec == "identity":
        return lambda img: img
    if m := re.fullmatch(r"bicubic-f(\d+)", spec):
        return bicubic(int(m.group(1)))
    if m := re.fullmatch(r"jpeg-q(\d+)", spec):
        q = int(m.group(1))
        if not 1 <= q <= 100:
            raise ValueError(f"jpeg quality must be 1..100, got {q}")
        return jpeg(q)
    path = Path(spec)
    if path.is_file():
        from textsynth.vae import load_reconstructor

        return load_reconstructor(path)
    raise ValueError(f"unknown model spec {spec!r}: use identity, bicubic-fN, jpeg-qN or a "
                     "checkpoint file written by `textsynth train`")
