"""PP-OCRv5 text *detection* alone, batched, on onnxruntime: the cheap first look of the
curation cascade (detection is ~4% of PP-OCRv5's cost per crop, recognition the rest).

From a crop's line boxes it estimates how many characters recognition would read, so crops
clearly outside the density window are rejected before recognition. The model, its
pre-processing and its DB post-processing match PaddleX's TextDetection with the
inference.yml that textsynth.ocr writes (resize to multiples of 32 with the short side at
least 64, ImageNet mean/std on BGR, probability > 0.3, box score > 0.6, unclip ratio 1.5).

``device="cuda"`` runs it on onnxruntime's CUDA execution provider (onnxruntime-gpu in place
of onnxruntime, as the ``gpu`` extra's note in pyproject.toml says); CPU is the default.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from textsynth import paths
from textsynth.ocr import DET_NAME

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
THRESH, BOX_THRESH, UNCLIP, MIN_SIDE = 0.3, 0.6, 1.5, 3
# Characters per line box: a box's long side over its short side, divided by this, is its
# character count. Han characters are about as wide as the (unclipped) box is high, Latin
# ones about half as wide. Calibrated on ci-profile crops against recognition (BENCHMARKS.md,
# "Detection first"); see estimate().
WIDTH_PER_HEIGHT = {"zh": 0.82, "en": 0.45}


def providers(device: str) -> list[str]:
    """onnxruntime execution providers for ``device``, or a ValueError saying what is missing."""
    import onnxruntime as ort

    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise ValueError("ocr.device cuda: this onnxruntime has no CUDA execution provider "
                             "(for the gpu extra, replace onnxruntime with onnxruntime-gpu: "
                             "pip uninstall -y onnxruntime && pip install onnxruntime-gpu)")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    raise ValueError(f"ocr.device must be cpu or cuda, got {device!r}")


class Detector:
    """Line boxes of many crops per call. Not thread-safe; make one per worker."""

    def __init__(self, det_dir: Path | None = None, device: str = "cpu", threads: int = 1):
        import onnxruntime as ort

        det_dir = Path(det_dir) if det_dir else paths.models_dir() / DET_NAME
        model = det_dir / "inference.onnx"
        if not model.is_file():
            raise FileNotFoundError(f"no {model} (run `textsynth assets fetch`; detection-first "
                                    "needs the ONNX detector)")
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
        self.session = ort.InferenceSession(str(model), so, providers=providers(device))
        self.input = self.session.get_inputs()[0].name

    @staticmethod
    def _prepare(rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        scale = max(1.0, 64 / min(h, w))
        nh, nw = (max(32, int(round(h * scale / 32)) * 32), max(32, int(round(w * scale / 32)) * 32))
        img = rgb[:, :, ::-1]  # the model was trained on BGR
        if (nh, nw) != (h, w):
            img = cv2.resize(img, (nw, nh))
        x = (img.astype(np.float32) / 255 - MEAN) / STD
        return x.transpose(2, 0, 1)

    def boxes(self, images: list[np.ndarray], batch: int = 16) -> list[np.ndarray]:
        """Per image, an (N, 2) array of line boxes' (long side, short side) in its pixels."""
        out: list[np.ndarray | None] = [None] * len(images)
        for i, prob, (h, w) in self._probabilities(images, batch):
            sides = _db_boxes(prob)
            sy, sx = h / prob.shape[0], w / prob.shape[1]
            out[i] = sides * np.array([[max(sx, sy), min(sx, sy)]]) if len(sides) else sides
        return out

    def quads(self, images: list[np.ndarray], batch: int = 16) -> list[np.ndarray]:
        """Per image, an (N, 4, 2) float32 array of line boxes' corners in its pixels,
        clockwise from the top-left, sorted by top edge then left edge."""
        out: list[np.ndarray | None] = [None] * len(images)
        for i, prob, (h, w) in self._probabilities(images, batch):
            sy, sx = h / prob.shape[0], w / prob.shape[1]
            quads = [_quad(r, sx, sy, w, h) for r in _db_rects(prob)]
            quads.sort(key=lambda q: (float(q[:, 1].min()), float(q[:, 0].min())))
            out[i] = np.array(quads, np.float32).reshape(-1, 4, 2)
        return out

    def _probabilities(self, images: list[np.ndarray], batch: int):
        """(index, (H', W') probability map, (h, w) of the image) of every image."""
        by_shape: dict[tuple, list[int]] = {}
        prepared = [self._prepare(im) for im in images]
        for i, x in enumerate(prepared):
            by_shape.setdefault(x.shape, []).append(i)
        for idx in by_shape.values():  # same-size crops batch together
            for s in range(0, len(idx), batch):
                chunk = idx[s:s + batch]
                probs = self.session.run(None, {self.input: np.stack([prepared[i] for i in chunk])})[0]
                for i, prob in zip(chunk, probs):
                    yield i, prob[0], images[i].shape[:2]


def _db_rects(prob: np.ndarray) -> list[tuple]:
    """DB post-processing: the unclipped min-area rectangle ((cx, cy), (a, b), angle) of
    each region, in the probability map's pixels."""
    bitmap = (prob > THRESH).astype(np.uint8)
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    rects = []
    for c in contours[:1000]:
        centre, (a, b), angle = cv2.minAreaRect(c)
        if min(a, b) < MIN_SIDE:
            continue
        x, y, w, h = cv2.boundingRect(c)
        mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(mask, [c - [x, y]], 1)
        if cv2.mean(prob[y:y + h, x:x + w], mask)[0] < BOX_THRESH:
            continue
        d = a * b * UNCLIP / (2 * (a + b))  # the offset that grows the box's area by UNCLIP
        a, b = a + 2 * d, b + 2 * d
        if min(a, b) < MIN_SIDE + 2:
            continue
        rects.append((centre, (a, b), angle))
    return rects


def _db_boxes(prob: np.ndarray) -> np.ndarray:
    """(long, short) sides of the unclipped min-area box of each region."""
    sides = [(max(a, b), min(a, b)) for _, (a, b), _ in _db_rects(prob)]
    return np.array(sides, np.float32).reshape(-1, 2)


def _quad(rect: tuple, sx: float, sy: float, w: int, h: int) -> np.ndarray:
    """A rectangle's corners in image pixels, clockwise from the top-left one (the order
    PP-OCR crops in), clipped to the image."""
    pts = cv2.boxPoints(rect) * np.array([sx, sy], np.float32)
    pts = pts[np.argsort(pts[:, 0], kind="stable")]
    left, right = pts[:2][np.argsort(pts[:2, 1])], pts[2:][np.argsort(pts[2:, 1])]
    quad = np.array([left[0], right[0], right[1], left[1]], np.float32)
    return np.clip(quad, 0, [w - 1, h - 1])


def estimate(sides: np.ndarray) -> tuple[float, float]:
    """(fewest, most) characters the boxes can hold: read as Han (wide characters) and as
    Latin (narrow ones). Recognition then decides the script."""
    if not len(sides):
        return 0.0, 0.0
    ratio = float((sides[:, 0] / sides[:, 1]).sum())
    return ratio / WIDTH_PER_HEIGHT["zh"], ratio / WIDTH_PER_HEIGHT["en"]
