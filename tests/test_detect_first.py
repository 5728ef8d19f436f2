"""Detection-first curation: PP-OCRv5 detection alone (onnxruntime, batched) estimates a crop's
characters from its line boxes, so crops that cannot reach the density window skip recognition."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from docpages import EN_PDF, ZH_BOOK, densest_tiles, doc, page
from textsynth import paths
from textsynth.config import ConfigError
from textsynth.curation.cascade import Cascade, PartitionResult, count_chars
from textsynth.curation.config import load_curate_config
from textsynth.ocr_det import Detector, estimate, providers


@pytest.fixture(scope="module")
def crops(assets):
    docs = densest_tiles(page(doc(EN_PDF), 4), 2) + densest_tiles(page(doc(ZH_BOOK), 20), 2)
    photo = cv2.imread(str(next((paths.home() / "backgrounds").rglob("coffee.png"))))[:256, :256, ::-1]
    return [np.ascontiguousarray(c) for c in docs], np.ascontiguousarray(photo)


def test_estimate_brackets_what_recognition_reads(crops):
    from textsynth.ocr import OCR

    docs, photo = crops
    sides = Detector().boxes(docs + [photo])
    assert len(sides[-1]) == 0 and estimate(sides[-1]) == (0.0, 0.0)   # no text in the photo
    ocr = OCR()
    for c, s in zip(docs, sides):
        lines = ocr.read(c)
        chars = count_chars("".join(ln.text for ln in lines))
        assert abs(len(s) - len(lines)) <= max(2, 0.3 * len(lines))       # the same detector
        fewest, most = estimate(s)
        assert fewest * 0.7 <= chars <= most * 1.3, (fewest, chars, most)


def test_cascade_rejects_textless_crops_before_recognition(crops):
    docs, photo = crops
    cfg = load_curate_config(None)
    casc = Cascade(cfg)
    res = PartitionResult()
    screened = [(str(i), c, {"file": "t", "page": None}, {"ink_frac": 0.5}) for i, c in enumerate([photo, docs[0]])]
    left = casc._detect(screened, res)
    assert [k for k, *_ in left] == ["1"] and res.counts["detect"] == 2
    (reject,) = res.rejects
    assert reject.key == "0" and reject.reason == "det_too_few_chars" and reject.scores["det_lines"] == 0
    assert res.counts["ocr"] == 0   # nothing recognised yet


def test_clarity_after_detection_skips_clarity_for_textless_crops(crops):
    docs, photo = crops
    cfg = load_curate_config(None)
    cfg["clarity"]["after_detection"] = True
    res = PartitionResult()
    left = Cascade(cfg)._screen_and_detect(
        [(str(i), c, {"file": "t", "page": None}, {"ink_frac": 0.5}) for i, c in enumerate([photo, docs[0]])], res)
    assert [k for k, *_ in left] == ["1"]
    assert res.counts["detect"] == 2 and res.counts["clarity"] == 1   # the photo never reached clarity
    assert "sharpness" in left[0][3]


def test_ocr_device_and_margins_are_checked(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("ocr: {device: tpu}\n")
    with pytest.raises(ConfigError, match="ocr.device. must be cpu or cuda"):
        load_curate_config(bad)
    bad.write_text("ocr: {det_margins: [1.5, 2]}\n")
    with pytest.raises(ConfigError, match="det_margins"):
        load_curate_config(bad)
    bad.write_text("ocr: {detect_first: false}\nclarity: {after_detection: true}\n")
    with pytest.raises(ConfigError, match="after_detection needs ocr.detect_first"):
        load_curate_config(bad)
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(ValueError, match="onnxruntime-gpu"):
            providers("cuda")
    assert providers("cpu") == ["CPUExecutionProvider"]
