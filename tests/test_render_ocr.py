"""PP-OCRv5 (real offline model files) reads rendered 16 px lines on photo backgrounds."""

from __future__ import annotations

import numpy as np
import pytest

from textsynth.config import load_config
from textsynth.generate import Stats, make_sample
from textsynth.metrics import ned
from textsynth.resources import Resources

SAMPLES_PER_LANG = 8


@pytest.fixture(scope="module")
def ocr(assets):
    from textsynth.ocr import OCR

    return OCR()


def _normal(s: str, lang: str) -> str:
    # OCR returns detected lines, not our line breaks; Chinese OCR drops spaces.
    s = " ".join(s.split())
    return s.replace(" ", "") if lang == "zh" else s


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_ocr_reads_16px_lines_on_photos(tmp_path, ocr, lang):
    import yaml

    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(yaml.safe_dump({
        "text": {"lang_probs": {lang: 1.0}},
        "size": {"buckets": {"16": [16, 16]}, "bucket_probs": {"16": 1.0}},
        "layout": {"lines": [2, 3], "blocks": [1, 1], "mode_probs": {"lines": 1.0}},
    }))
    res = Resources(load_config(cfg_file))
    scores = []
    for i in range(SAMPLES_PER_LANG):
        img, meta = make_sample(res, 0, i, Stats())
        assert meta["recipe"]["background"]["mode"] == "photo"
        assert {ln["px"] for ln in meta["lines"]} == {16}
        got = ocr.read_text(img)
        scores.append(ned(_normal(got, lang), _normal(meta["text"], lang)))
    assert np.mean(scores) >= 0.95, scores
