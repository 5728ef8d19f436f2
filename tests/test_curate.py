"""Curation on real pages: clarity and density filters, bad inputs, dedup, resume, CLI.

The inputs are one page of an English TeX documentation PDF from the ci profile, crops of it
written as images, their blurred (sigma 2) and JPEG q10 copies, a photo without text, an
exact copy, a JPEG q95 copy, a truncated PNG and a corrupt PDF. The job runs on a real local
Ray with the real PP-OCRv5 model files.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
import webdataset as wds
from docpages import BIN, EN_PDF, ZH_PDF, curate, densest_tiles, doc, jpeg, page

from textsynth.curation import clarity, dedup
from textsynth.curation.config import ConfigError, load_curate_config


def _rejects(out: Path) -> dict[str, list[dict]]:
    """{input file name: [reject rows]} over all partitions."""
    by_file: dict[str, list[dict]] = {}
    for p in sorted((out / "rejects").glob("*.parquet")):
        for row in pq.read_table(p).to_pylist():
            by_file.setdefault(Path(json.loads(row["origin"])["file"]).name, []).append(row)
    return by_file


def _kept(out: Path) -> list[dict]:
    shards = sorted(str(p) for p in (out / "shards").glob("*.tar"))
    return list(wds.WebDataset(shards, shardshuffle=False).decode("rgb"))


def test_sharp_pages_pass_and_carry_the_contract(curated):
    out, stdout, stderr = curated
    # the progress bar counts inputs (files), not partitions, and shows crops passing so far
    n_inputs = json.loads((out / "stats.json").read_text())["inputs"]
    assert f"| {n_inputs}/{n_inputs} [" in stderr and "input/s" in stderr, stderr[-500:]
    kept = _kept(out)
    files = {Path(s["json"]["origin"]["file"]).name for s in kept}
    assert EN_PDF in files
    assert len(files & {"sharp0.png", "exact-copy.png"}) == 1  # identical pixels: one survives
    assert len(files & {"sharp1.png", "near-copy.jpg"}) == 1
    pdf_crops = [s for s in kept if s["json"]["origin"]["file"].endswith(EN_PDF)]
    assert len(pdf_crops) >= 3 and {s["json"]["origin"]["page"] for s in pdf_crops} <= {1, 4}
    zh_crops = [s for s in kept if s["json"]["origin"]["file"].endswith("lshort-p20.pdf")]
    assert len(zh_crops) >= 2 and {s["json"]["lang"] for s in zh_crops} <= {"zh", "mixed"}
    assert any(s["json"]["lang"] == "zh" for s in zh_crops)
    for s in kept:
        m = s["json"]
        assert m["source"] == "doc" and m["recipe"] is None
        assert m["lang"] == "en" or m in [z["json"] for z in zh_crops]
        assert m["width"] == m["height"] == 256 and s["png"].shape == (256, 256, 3)
        assert len(m["origin"]["box"]) == 4 and m["lines"] and m["text"]
        assert 100 <= m["scores"]["ocr_chars"] <= 1000
        for k in ("laplacian_var", "tenengrad", "sharpness", "blockiness", "chars_per_mpx"):
            assert k in m["scores"]
        x0, y0, x1, y1 = m["lines"][0]["bbox"]
        assert 0 <= x0 < x1 <= 256 and 0 <= y0 < y1 <= 256
    assert 5 <= np.median([s["json"]["char_px"] for s in pdf_crops]) <= 20
    assert "kept" in stdout and "rejects:" in stdout
    ok = subprocess.run([str(BIN / "textsynth"), "verify", str(out)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout


def test_blurred_and_compressed_copies_are_rejected_by_clarity(curated):
    rejects = _rejects(curated[0])
    for i in range(2):
        assert [r["reason"] for r in rejects[f"blur{i}.png"]] == ["blurry"]
        assert [r["reason"] for r in rejects[f"jpeg{i}.jpg"]] == ["compressed"]
        assert rejects[f"jpeg{i}.jpg"][0]["score_blockiness"] > 1.35
        assert rejects[f"blur{i}.png"][0]["score_sharpness"] < 1.0


def test_photo_without_text_is_rejected_by_density(curated):
    # ... already by the detection-first estimate: recognition never runs on it
    (row,) = _rejects(curated[0])["photo.png"]
    assert row["reason"] == "det_too_few_chars" and row["score_det_chars_max"] < 150 * 0.5
    assert row.get("score_ocr_chars") is None


def test_bad_files_are_reasoned_rejects(curated):
    rejects = _rejects(curated[0])
    (trunc,) = rejects["truncated.png"]
    assert trunc["reason"] == "unreadable_image" and "truncated" in trunc["detail"].lower()
    (bad,) = rejects["corrupt.pdf"]
    assert bad["reason"] == "unreadable_pdf" and bad["detail"]
    stats = json.loads((curated[0] / "stats.json").read_text())
    assert stats["partitions_failed"] == {} and stats["rejects"]["unreadable_pdf"] == 1


def test_duplicates_are_removed(curated):
    out = curated[0]
    rejects = _rejects(out)
    reasons = [r["reason"] for f in ("sharp0.png", "exact-copy.png") for r in rejects.get(f, [])]
    assert reasons == ["dup_exact"]
    near = [r["reason"] for f in ("sharp1.png", "near-copy.jpg") for r in rejects.get(f, [])]
    assert len(near) == 1 and near[0].endswith("_category")
    texts = [s["json"]["text"] for s in _kept(out)]
    assert len(texts) == len(set(texts))
    # Rejected duplicates come with an example picture in rejects/*.tar.
    dup = next(r for f in rejects.values() for r in f if r["reason"].startswith("dup"))
    assert dup["image"] and any(dup["image"] in p.read_bytes().decode("latin-1")
                                for p in (out / "rejects").glob("*.tar"))


def test_rerun_redoes_nothing_and_is_identical(curated, curate_inputs):
    out, _, _ = curated
    before = {p.name: p.read_bytes() for p in sorted((out / "shards").iterdir())}
    proc = curate(out, curate_inputs)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "already done" in proc.stdout
    stats = json.loads((out / "stats.json").read_text())
    assert stats["timing"]["partitions_this_run"] == 0
    assert {p.name: p.read_bytes() for p in sorted((out / "shards").iterdir())} == before


def test_missing_input_and_bad_config_are_clear_errors(tmp_path):
    proc = subprocess.run([str(BIN / "textsynth"), "curate", "--out", str(tmp_path / "o"),
                           "--input", str(tmp_path / "nope")], capture_output=True, text=True)
    assert proc.returncode == 2 and "nope" in proc.stderr
    with pytest.raises(ConfigError, match="clarity.max_blockyness"):
        load_curate_config(clarity={"max_blockyness": 2})


def test_clarity_scores_fall_with_blur_and_flag_jpeg(assets):
    tile = densest_tiles(page(doc(ZH_PDF), 5), 1)[0]
    sharp = clarity.scores(tile)
    soft = clarity.scores(cv2.GaussianBlur(tile, (0, 0), 1.5))
    assert soft["sharpness"] < 0.7 * sharp["sharpness"]
    assert soft["laplacian_var"] < sharp["laplacian_var"]
    assert clarity.scores(jpeg(tile, 20))["blockiness"] > 1.35 > sharp["blockiness"]
    # JPEG grid found when the crop is cut off the 8-px grid.
    assert clarity.blockiness(clarity.gray(jpeg(tile, 20)[3:, 5:])) > 1.35


def test_ngram_overlap_and_greedy_keep_most_chars():
    assert dedup.ngrams("ab cd", 3, 5) == frozenset(["abcd"])
    assert dedup.ngrams("中文字符串", 3, 5) == frozenset(["中文字", "文字符", "字符串"])
    g = dedup.ngrams("汉字text混排mixed", 3, 5)  # Han and Latin n-grams counted apart
    assert "汉字混" in g and "textm" in g
    a, b = dedup.ngrams("the quick brown fox jumps"), dedup.ngrams("the quick brown fox sleeps")
    assert 0.3 < dedup.overlap(a, b) < 1 and dedup.overlap(a, a) == 1.0
    long_text = "the quick brown fox jumps over the lazy dog again and again"
    cands = [dedup.Candidate("small", "page", 20, dedup.ngrams(long_text[:40])),
             dedup.Candidate("big", "page", 50, dedup.ngrams(long_text)),
             dedup.Candidate("other", "page", 30, dedup.ngrams("completely different words here")),
             dedup.Candidate("elsewhere", "page2", 10, dedup.ngrams(long_text))]
    dropped = dedup.near_duplicates(cands, 0.2)
    assert dropped == {"small": ("dup_ngram", "big")}  # most characters kept; groups apart
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 256, (128, 128, 3), dtype=np.uint8), (0, 0), 4)
    other = cv2.GaussianBlur(rng.integers(0, 256, (128, 128, 3), dtype=np.uint8), (0, 0), 4)
    assert dedup.hamming(dedup.phash(img), dedup.phash(jpeg(img, 60))) <= 4
    assert dedup.hamming(dedup.phash(img), dedup.phash(other)) > 12


def test_web_page_is_screenshotted_in_chromium_and_cropped(tmp_path):
    from textsynth.browser import BrowserUnavailable, chromium_path
    from textsynth.curation import ingest

    try:
        chromium_path()
    except BrowserUnavailable as e:
        pytest.skip(str(e))
    page_file = tmp_path / "page.html"
    page_file.write_text("<html><body style='margin:8px;font:14px sans-serif'>"
                         + "<p>The quick brown fox jumps over the lazy dog.</p>" * 60 + "</body></html>")
    cfg = load_curate_config()
    (page,) = list(ingest.pages(ingest.Source(str(page_file), "html", "web"), cfg["ingest"]))
    assert isinstance(page, ingest.Page), page
    h, w = page.image.shape[:2]
    assert w == cfg["ingest"]["html_width"] and h > 800  # the full page, beyond one viewport
    assert ingest.ink_fraction(page.image[:256, :256]) > 0.02  # text was drawn
    crops = list(ingest.crops(page, {**cfg["crop"], "sizes": [256]}, np.random.default_rng(0)))
    assert len(crops) == (w // 256) * (h // 256) and crops[0][1]["box"] == [0, 0, 256, 256]
    whole = list(ingest.crops(page, {**cfg["crop"], "mode": "whole", "whole_max_side": 512},
                              np.random.default_rng(0)))
    assert len(whole) == 1 and max(whole[0][0].shape[:2]) == 512
    loopback_ok = {**cfg["ingest"], "allow_private_addresses": True}  # else refused: test_security_web
    (bad,) = list(ingest.pages(ingest.Source("http://127.0.0.1:9/nothing", "url", "web"), loopback_ok))
    assert isinstance(bad, ingest.Reject) and bad.reason == "unreadable_web_page"


def test_lost_partition_is_redone_alone_and_identically(curated, curate_inputs, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(curated[0], out)
    before = {p.name: p.read_bytes() for p in sorted((out / "shards").iterdir())}
    markers = sorted((out / "_work" / "_completions").glob("*.json"))
    markers[-1].unlink()  # as if the job had been killed before this partition finished
    proc = curate(out, curate_inputs)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((out / "stats.json").read_text())["timing"]["partitions_this_run"] == 1
    assert {p.name: p.read_bytes() for p in sorted((out / "shards").iterdir())} == before


def test_missing_ocr_models_fail_before_any_work(curate_inputs, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"ocr: {{model_dir: {tmp_path / 'no-models'}}}\n")
    proc = subprocess.run([str(BIN / "textsynth"), "curate", "--config", str(cfg), "--out", str(tmp_path / "o"),
                           "--input", str(curate_inputs["pdf"])], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "OCR model files missing" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_relative_output_paths_work(curated):
    out = curated[0]
    proc = subprocess.run([str(BIN / "textsynth"), "verify", out.name], cwd=out.parent,
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "OK" in proc.stdout


def test_curated_shards_feed_the_bench_builder(curated):
    from textsynth.evaluation.sources import curated as source
    from textsynth.evaluation.sources.common import Skips

    cands = source.candidates(curated[0], "docs", Skips())
    # Chinese crops are scaled up (~12-14 px line boxes to 16 px) and yield a 256 crop each;
    # English ones scale down (to 10 px), so a 256 crop becomes too small and is skipped.
    zh = [c for c in cands if c.lang in ("zh", "mixed")]
    assert zh, "no Chinese bench candidates from curated doc shards"
    assert all(c.image.shape == (256, 256, 3) and c.origin["scale"] > 1.0 for c in zh)
    assert all(c.origin["from_key"].startswith("doc-") for c in cands)
