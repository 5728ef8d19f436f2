"""PP-OCRv5 (real offline model files) reads rendered 16 px lines on photo backgrounds."""

from __future__ import annotations

import numpy as np
import pytest

from textsynth.config import load_config
from textsynth.synthesis.generate import Stats, make_sample
from textsynth.metrics import ned
from textsynth.synthesis.resources import Resources

SAMPLES_PER_LANG = 10


@pytest.fixture(scope="module")
def ocr(assets):
    from textsynth.ocr import OCR

    return OCR()


def _normal(s: str, lang: str) -> str:
    # The detector may split a line at a wide gap; Chinese OCR drops spaces.
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
    scores, pad = [], 6
    for i in range(SAMPLES_PER_LANG):
        img, meta = make_sample(res, 0, i, Stats())
        assert meta["recipe"]["background"]["mode"] == "photo"
        read = []
        for line in meta["lines"]:  # OCR each line's box (plus margin), in reading order
            assert line["px"] == 16
            x0, y0, x1, y1 = line["bbox"]
            crop = img[max(0, y0 - pad):y1 + pad, max(0, x0 - pad):x1 + pad]
            read.append(ocr.read_text(np.ascontiguousarray(crop)))
        truth = " ".join(line["text"] for line in meta["lines"])
        scores.append(ned(_normal(" ".join(read), lang), _normal(truth, lang)))
    assert np.mean(scores) >= 0.95, (float(np.mean(scores)), scores)


@pytest.mark.parametrize("template", ["dense", "columns", "heading", "lists", "table", "form", "slide", "caption"])
def test_document_templates_stay_legible_at_14_px_and_up(ocr, template):
    """Issue 15.6: PP-OCRv5 reads back the >= 14 px lines of every template (each line from
    its own crop) at mean NED >= 0.95; benchmarks/readback.py measures more samples."""
    from textsynth import paths
    from textsynth.evaluation.readback import readback

    res = Resources(load_config(paths.packaged_config("synth_docs.yaml"),
                                layout={"template_probs": {template: 1.0}},
                                size={"buckets": {"14-20": [14, 20]}, "bucket_probs": {"14-20": 1.0}}))
    got = readback(res, ocr, seed=0, num=10)
    assert got["lines"] >= 15 and got["mean_ned"] >= 0.95, got


@pytest.mark.parametrize("case", ["paper", "rotate", "perspective", "arc", "vertical", "degrade"])
def test_realistic_renders_read_back_from_their_rectified_labels(assets, case):
    """Issue 27: PP-OCRv5 recognition reads the >= 14 px lines of synth_real.yaml from the
    crop each label rectifies (quad, straightened curve, turned column); benchmarks/legibility.py
    measures every mode and template on more samples."""
    from textsynth import paths
    from textsynth.evaluation.readback import read_quads
    from textsynth.ocr import Recognizer

    over = {"paper": {"background": {"mode_probs": {"paper": 1}}, "geometry": {"prob": 0.0}},
            "vertical": {"background": {"mode_probs": {"paper": 1}}, "geometry": {"prob": 0.0},
                         "layout": {"template_probs": {"vertical": 1}}},
            "degrade": {"degrade": {"prob": 1.0, "strength": 1.0}, "geometry": {"prob": 0.0}},
            }.get(case, {"geometry": {"prob": 1.0, "kind_probs": {case: 1.0}}})
    res = Resources(load_config(paths.packaged_config("synth_real.yaml"), **over,
                                size={"buckets": {"14-20": [14, 20]}, "bucket_probs": {"14-20": 1.0}}))
    got = read_quads(res, Recognizer(), seed=0, num=8)
    assert got["lines"] >= 15 and got["mean_ned"] >= 0.9, got
