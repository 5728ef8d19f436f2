"""Real document pages from the ci profile and the curate run shared by several test files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pypdfium2 as pdfium

from textsynth import paths

BIN = Path(sys.executable).parent
EN_PDF = "xelatex_nanicolle_nanicolle-doc-en.pdf"
ZH_PDF = "latex_ctex-faq_ctex-faq.pdf"
ZH_BOOK = "latex_lshort-chinese_lshort-zh-cn.pdf"


def doc(name: str) -> Path:
    (path,) = (paths.home() / "documents").rglob(name)
    return path


def page(pdf: Path, number: int, dpi: int = 96) -> np.ndarray:
    """Page ``number`` (1-based) of ``pdf`` as RGB."""
    document = pdfium.PdfDocument(str(pdf))
    img = document[number - 1].render(scale=dpi / 72).to_numpy()[:, :, :3].copy()
    document.close()
    return img


def densest_tiles(img: np.ndarray, n: int, side: int = 256) -> list[np.ndarray]:
    tiles = [img[y:y + side, x:x + side] for y in range(0, img.shape[0] - side + 1, side)
             for x in range(0, img.shape[1] - side + 1, side)]
    return sorted(tiles, key=lambda t: -(t.mean(axis=2) < 128).mean())[:n]


def save(path: Path, rgb: np.ndarray, *params) -> None:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), list(params))


def jpeg(rgb: np.ndarray, q: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.cvtColor(cv2.imdecode(buf, 1), cv2.COLOR_BGR2RGB)


def curate(out: Path, inputs: dict, *extra) -> subprocess.CompletedProcess:
    cmd = [str(BIN / "textsynth"), "curate", "--config", str(inputs["config"]), "--out", str(out),
           "--input", str(inputs["images"]), str(inputs["pdf"]), str(inputs["zh_pdf"]), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900)
