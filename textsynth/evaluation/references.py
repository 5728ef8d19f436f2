"""Reconstructions to evaluate: built-in references and trainer checkpoints.

A *model spec* names a function ``(image, key=None) -> reconstruction`` of (H, W, 3) uint8
RGB images (the bench sample's key matters only for stored reconstructions):

- ``identity``: the image itself (NED 1.0, PSNR inf: the metric's ceiling);
- ``bicubic-fN``: bicubic down-sampling by N then bicubic up-sampling back, the information
  a latent grid N times coarser keeps without learning anything (N = 8, 16, 32, ...);
- ``jpeg-qN``: JPEG at quality N;
- ``grey``: a flat mid-grey image, the floor (no text survives: NED ~0);
- ``recon:DIR``: reconstructions made elsewhere, ``DIR/KEY.png`` per bench sample (e.g. by a
  GPU machine that has no OCR installed; see :func:`write_reconstructions`);
- anything else: a checkpoint file of ``textsynth train`` (run on CPU, or GPU if present).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

Reconstructor = Callable[[np.ndarray], np.ndarray]
KeyedReconstructor = Callable[[np.ndarray, str], np.ndarray]


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


def stored(root: Path) -> KeyedReconstructor:
    if not root.is_dir():
        raise ValueError(f"no reconstructions dir {root}")

    def run(img: np.ndarray, key: str) -> np.ndarray:
        path = root / f"{key}.png"
        rec = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if rec is None:
            raise ValueError(f"missing or unreadable reconstruction {path} for bench sample {key}")
        rec = cv2.cvtColor(rec, cv2.COLOR_BGR2RGB)
        if rec.shape != img.shape:
            raise ValueError(f"reconstruction {path} is {rec.shape}, the bench image {img.shape}")
        return rec
    return run


def load(spec: str) -> KeyedReconstructor:
    """The reconstructor a model spec names; a ValueError says what specs exist."""
    if spec.startswith("recon:"):
        return stored(Path(spec[len("recon:"):]))
    return _Unkeyed(_load(spec))


class _Unkeyed:
    """A reconstructor that ignores the bench key, keeping its batched ``many`` if it has one."""

    def __init__(self, fn: Reconstructor):
        self.fn = fn
        self.many = getattr(fn, "many", None)

    def __call__(self, img: np.ndarray, key: str | None = None) -> np.ndarray:
        return self.fn(img)


def _load(spec: str) -> Reconstructor:
    if spec == "identity":
        return lambda img: img
    if spec == "grey":
        return lambda img: np.full_like(img, 128)
    if m := re.fullmatch(r"bicubic-f(\d+)", spec):
        return bicubic(int(m.group(1)))
    if m := re.fullmatch(r"jpeg-q(\d+)", spec):
        q = int(m.group(1))
        if not 1 <= q <= 100:
            raise ValueError(f"jpeg quality must be 1..100, got {q}")
        return jpeg(q)
    path = Path(spec)
    if path.is_file() or path.suffix == ".pt":   # a missing .pt: the checkpoint reader says so
        from textsynth.vae import load_reconstructor

        return load_reconstructor(path)
    raise ValueError(f"unknown model spec {spec!r}: use identity, grey, bicubic-fN, jpeg-qN, "
                     "recon:DIR or a checkpoint file written by `textsynth train`")


def write_reconstructions(spec: str | KeyedReconstructor, bench: str | Path, out: str | Path) -> int:
    """Reconstruct every image of ``bench`` with ``spec`` (a model spec, or what :func:`load`
    returned for one: load once, write many) into ``out/KEY.png`` (lossless), atomically
    (a temp dir renamed at the end); returns the number of images."""
    import shutil

    from textsynth.evaluation.run import read_bench

    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    fn = load(spec) if isinstance(spec, str) else spec
    many = getattr(fn, "many", None)
    chunk: list[tuple[str, np.ndarray]] = []
    n = 0

    def flush():
        recs = many([img for _, img in chunk]) if many else [fn(img, key) for key, img in chunk]
        for (key, _), rec in zip(chunk, recs):
            cv2.imwrite(str(tmp / f"{key}.png"), cv2.cvtColor(rec, cv2.COLOR_RGB2BGR))
        chunk.clear()

    for key, img, _, _ in read_bench(bench):
        chunk.append((key, img))
        n += 1
        if len(chunk) == 32:   # a model batches within the chunk; 32 images bound the memory
            flush()
    flush()
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return n
