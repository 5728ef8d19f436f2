"""Line-level NED (`textsynth eval --ned lines`): recognition only, at line boxes fixed on the
original (a synthetic sample's labelled lines; a document crop's boxes detected once and
cached). Real PP-OCRv5 models, tiny benches."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def synth_bench(assets, tmp_path_factory):
    """Two synthetic samples of large, dark-on-light text (the OCR reads them)."""
    from textsynth.config import load_config
    from textsynth.shards import filesystem, pack, publish
    from textsynth.synthesis.generate import Stats, make_sample
    from textsynth.synthesis.render import encode
    from textsynth.synthesis.resources import Resources

    cfg = load_config(size={"bucket_probs": {"13-16": 1.0}}, layout={"lines": [2, 3], "blocks": [1, 1]},
                      background={"mode": "plain"})
    res = Resources(cfg)
    out = tmp_path_factory.mktemp("bench") / "synthbench"
    samples = []
    for i in range(2):
        img, meta = make_sample(res, 5, i, Stats())
        key = f"synth-000000-{i:06d}"
        samples.append((key, f"{key}.png", encode(img, "png"), meta))
    fs, root = filesystem(str(out))
    fs.create_dir(f"{root}/shards", recursive=True)
    fs.create_dir(f"{root}/_completions", recursive=True)
    publish(fs, root, "synth-000000", *pack(samples), len(samples))
    return out


@pytest.fixture(scope="module")
def doc_bench(assets, tmp_path_factory):
    """Two 256x256 crops of real PDF pages (Chinese book, English manual), as a document bench
    holds them: no line labels, so the line mode detects its own boxes."""
    from docpages import EN_PDF, ZH_BOOK, densest_tiles, doc, page

    from textsynth.shards import filesystem, pack, publish
    from textsynth.synthesis.render import encode

    out = tmp_path_factory.mktemp("bench") / "docbench"
    samples = []
    for lang, pdf, number in (("zh", ZH_BOOK, 20), ("en", EN_PDF, 4)):
        for tile in densest_tiles(page(doc(pdf), number, dpi=120), 1):
            key = f"bench-000000-{len(samples):06d}"
            meta = {"source": "doc", "lang": lang, "size_bucket": "13-16", "origin": {"category": "docs"}}
            samples.append((key, f"{key}.png", encode(tile, "png"), meta))
    fs, root = filesystem(str(out))
    fs.create_dir(f"{root}/shards", recursive=True)
    fs.create_dir(f"{root}/_completions", recursive=True)
    publish(fs, root, "bench-000000", *pack(samples), len(samples))
    return out


@pytest.fixture(scope="module")
def reader(assets):
    from textsynth.evaluation.run import LineReader

    return LineReader()


def test_line_mode_equals_page_mode_on_identity(synth_bench, doc_bench, reader, tmp_path):
    from textsynth.evaluation.run import evaluate

    for bench in (synth_bench, doc_bench):
        page = evaluate(str(bench), "identity", str(tmp_path / bench.name / "page"),
                        cache_dir=str(tmp_path / "c"), progress=False)
        lines = evaluate(str(bench), "identity", str(tmp_path / bench.name / "lines"),
                         cache_dir=str(tmp_path / "c"), progress=False, ned_mode="lines", line_reader=reader)
        assert page["ned_mode"] == "page" and lines["ned_mode"] == "lines"
        assert lines["line_detections"] == (0 if bench == synth_bench else 2)   # synthetic lines are labelled
        assert page["overall"]["ned"] == lines["overall"]["ned"] == 1.0, bench.name
        rows = pq.read_table(tmp_path / bench.name / "lines" / "per_image.parquet").to_pylist()
        assert {r["ned_mode"] for r in rows} == {"lines"} and all(r["lines"] >= 1 for r in rows)
        # The line boxes read real text, the page's text (not empty strings agreeing with each other).
        assert all(len(r["ocr_orig"].strip()) >= 10 for r in rows), bench.name
        assert "NED mode `lines`" in (tmp_path / bench.name / "lines" / "metrics.md").read_text()
    # Synthetic lines are read at their labelled boxes, without detection; OCR reads them right.
        synth = evaluate(str(synth_bench), "identity", str(tmp_path / "again"), cache_dir=str(tmp_path / "c2"),
                     progress=False, ned_mode="lines", line_reader=reader)
    assert synth["line_detections"] == 0 and synth["overall"]["gt_ned_orig"] >= 0.9


def test_line_mode_ranks_degraded_reconstructions_below_identity(synth_bench, doc_bench, reader, tmp_path):
    from textsynth.evaluation.run import evaluate

    for bench in (synth_bench, doc_bench):
        scores = {m: evaluate(str(bench), m, str(tmp_path / bench.name / m), cache_dir=str(tmp_path / "c"),
                              progress=False, ned_mode="lines", line_reader=reader)["overall"]["ned"]
                  for m in ("jpeg-q20", "bicubic-f16")}   # identity: 1.0, see above
        assert scores["bicubic-f16"] < 0.6 and scores["jpeg-q20"] < 1.0, (bench.name, scores)


def test_doc_bench_boxes_are_detected_once_and_cached(doc_bench, reader, tmp_path):
    from textsynth.evaluation.run import evaluate

    first = evaluate(str(doc_bench), "jpeg-q50", str(tmp_path / "a"), cache_dir=str(tmp_path / "c"),
                     progress=False, ned_mode="lines", line_reader=reader)
    n = first["overall"]["n"]
    assert n == 2 and first["line_detections"] == n and first["ocr_cache_hits"] == 0
    (cache,) = (tmp_path / "c").glob("lines-*.json")
    assert not list((tmp_path / "c").glob("ocr-*.json"))     # the page OCR never ran
    second = evaluate(str(doc_bench), "bicubic-f8", str(tmp_path / "b"), cache_dir=str(tmp_path / "c"),
                      progress=False, ned_mode="lines", line_reader=reader)
    assert second["line_detections"] == 0 and second["ocr_cache_hits"] == n
    a = pq.read_table(tmp_path / "a" / "per_image.parquet").to_pylist()
    b = pq.read_table(tmp_path / "b" / "per_image.parquet").to_pylist()
    assert [r["ocr_orig"] for r in a] == [r["ocr_orig"] for r in b]       # the same boxes, the same reference
    assert [r["lines"] for r in a] == [r["lines"] for r in b]


def test_line_ned_is_character_weighted():
    from textsynth.evaluation.run import line_ned
    from textsynth.metrics import ned

    assert line_ned(["orange"], ["orango"]) == pytest.approx(ned("orange", "orango"))   # one line: eq. 5
    # A lost 2-character line costs 2 of 22 characters, not half the score.
    assert line_ned(["a" * 20, "12"], ["a" * 20, ""]) == pytest.approx(1 - 2 / 22)
    assert line_ned(["", ""], ["", ""]) == 1.0 and line_ned([], []) == 1.0


def test_cli_line_mode_and_bad_mode(synth_bench, tmp_path):
    import json

    from textsynth.evaluation.run import evaluate

    ok = subprocess.run([str(BIN / "textsynth"), "eval", "--bench", str(synth_bench), "--model", "jpeg-q50",
                         "--ned", "lines", "--out", str(tmp_path / "j"), "--cache-dir", str(tmp_path / "c"),
                         "--limit", "1", "--quiet"], capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "NED mode `lines`" in ok.stdout
    assert json.loads((tmp_path / "j" / "metrics.json").read_text())["ned_mode"] == "lines"
    bad = subprocess.run([str(BIN / "textsynth"), "eval", "--bench", str(synth_bench), "--model", "identity",
                          "--ned", "words"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--ned" in bad.stderr and "invalid choice" in bad.stderr
    with pytest.raises(ValueError, match="ned_mode must be one of page, lines"):
        evaluate(str(synth_bench), "identity", str(tmp_path / "x"), ned_mode="words")
