"""`textsynth bench build` from OmniDocBench annotations and from bare page images.

The pages are drawn here with real fonts and corpus text at known sizes and places (see
tests/annotated_pages.py); PP-OCRv5 reads them for real."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import annotated_pages as ap

BIN = Path(sys.executable).parent


def bench(*args, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "textsynth"), "bench", "build", "--quiet", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def pages(assets, tmp_path_factory):
    root = tmp_path_factory.mktemp("pages")
    return root, ap.make_pages(root / "images")


def _sample_metas(out: Path) -> list[dict]:
    import tarfile

    metas = []
    for shard in sorted((out / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            metas += [json.loads(tar.extractfile(m).read()) for m in tar.getmembers() if m.name.endswith(".json")]
    return metas


def test_omnidocbench_annotations_with_malformed_entries(pages, tmp_path):
    root, drawn = pages
    # The English page carries the malformed blocks; a third page's image is missing.
    en = ap.page_entry("en-paper.jpg", copy.deepcopy(drawn["en-paper.jpg"][1]), "academic_literature", "en",
                       "double_column")
    good = en["layout_dets"][0]
    en["layout_dets"] += [
        {**good, "anno_id": 10, "poly": [900, 1200, 1400, 1200, 1400, 1500, 900, 1500]},   # off the page
        {**good, "anno_id": 11, "text": "  "},                                              # empty text
        {**good, "anno_id": 12, "ignore": True},
        {**good, "anno_id": 13, "poly": [1, 2, 3]},
        {**good, "anno_id": 14, "category_type": "table"},
    ]
    ann = tmp_path / "OmniDocBench.json"
    ann.write_text(json.dumps([
        ap.page_entry("zh-book.png", drawn["zh-book.png"][1], "book", "simplified_chinese", "double_column"),
        en, ap.page_entry("gone.jpg", [], "newspaper", "en", "three_column")], ensure_ascii=False))
    out = tmp_path / "bench"
    r = bench("--omnidocbench", ann, "--images", root / "images", "--out", out)
    assert r.returncode == 0, r.stderr
    assert "pages without samples: 1 page: image missing" in r.stdout

    stats = json.loads((out / "stats.json").read_text())
    f = stats["filtered"]
    for reason in ("image_missing", "polygon_outside_page", "empty_text", "ignored_block", "malformed_polygon"):
        assert f.get(reason) == 1, (reason, f)
    assert f["not_a_text_block"] == 1
    assert stats["pages"] == {"total": 3, "with_samples": 2, "without_samples": {"image_missing": 1}}
    assert {d["reason"] for d in stats["skips"]} >= {"image_missing", "polygon_outside_page", "empty_text"}
    assert len(stats["bench_id"]) == 16

    metas = _sample_metas(out)
    assert {m["lang"] for m in metas} >= {"zh", "en"} and stats["by_lang"]["zh"] == stats["by_lang"]["en"]
    for m in metas:
        o = m["origin"]
        assert (o["data_source"], o["language"]) in {("book", "simplified_chinese"), ("academic_literature", "en")}
        assert o["layout"] == "double_column" and o["category"] == o["data_source"]
        assert o["block"]["category_type"] == "text_block" and o["block"]["anno_id"] in (0, 1, 2)
        # Chinese spans are ~20 px high -> scaled to 16 px; English 16 px lines -> 10 px capitals.
        expected = 16 / o["line_px"] if m["lang"] == "zh" else 10 / (o["line_px"] * 0.73)
        assert o["scale"] == pytest.approx(expected, rel=0.01)
        assert 0.7 < o["scale"] < 0.95
        assert 200 <= m["scores"]["ocr_chars"] <= 600
    index = pq.read_table(out / "index" / "bench-000000.parquet").to_pylist()
    assert {row["origin"]["data_source"] for row in index} == {"book", "academic_literature"}

    # eval breaks the results down by the page attributes, in Table 3's columns
    r = subprocess.run([str(BIN / "textsynth"), "eval", "--quiet", "--bench", str(out), "--model", "jpeg-q50",
                        "--out", str(tmp_path / "eval"), "--lpips", "none"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert set(metrics["by_data_source"]) == {"book", "academic_literature"}
    assert set(metrics["by_layout"]) == {"double_column"} and set(metrics["by_lang"]) == {"zh", "en"}
    assert set(metrics["by_size_bucket"]) == {"13-16", "9-12"}
    assert sum(g["n"] for g in metrics["by_data_source"].values()) == metrics["overall"]["n"] == stats["samples"]
    md = (tmp_path / "eval" / "metrics.md").read_text()
    assert "### By data source" in md and "| academic_literature |" in md
    assert "| group | n | SSIM ↑ | PSNR ↑ | NED ↑ |" in md and "### By layout" not in md  # one layout: no table
    per_image = pq.read_table(tmp_path / "eval" / "per_image.parquet").to_pylist()
    assert {row["data_source"] for row in per_image} == {"book", "academic_literature"}


def test_bare_page_images_blank_and_corrupt_pages_are_counted(pages, tmp_path):
    root, _ = pages
    images = tmp_path / "pages"
    images.mkdir()
    for name in ("zh-book.png", "en-paper.jpg"):
        (images / name).write_bytes((root / "images" / name).read_bytes())
    ap.blank(images, "blank.png")
    (images / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    out = tmp_path / "bench"
    r = bench("--input", images, "--out", out)
    assert r.returncode == 0, r.stderr
    stats = json.loads((out / "stats.json").read_text())
    assert stats["pages"]["without_samples"] == {"no_text_detected": 1, "unreadable_image": 1}
    assert stats["by_lang"]["zh"] == stats["by_lang"]["en"] >= 1
    metas = _sample_metas(out)
    for m in metas:
        o = m["origin"]
        assert o["data_source"] == "pages" and o["block"]["lines"] >= 5
        assert Path(o["file"]).name in ("zh-book.png", "en-paper.jpg")
        assert 0.7 < o["scale"] < 1.0
        assert 200 <= m["scores"]["ocr_chars"] <= 600


def test_nothing_qualifies_says_why_per_page(assets, tmp_path):
    images = tmp_path / "pages"
    images.mkdir()
    ap.blank(images, "a.png")
    ap.blank(images, "b.png")
    img, _ = ap.draw_page([{"lang": "zh", "text": ap.corpus_text("zh", 2, 60), "x": 60, "y": 80, "width": 420,
                            "size": 20}])
    img.save(images / "short.png")
    out = tmp_path / "bench"
    r = bench("--input", images, "--out", out)
    assert r.returncode == 2
    assert "no bench sample qualifies: 2 pages: no text detected; 1 page: blocks below 200" in r.stderr, r.stderr
    assert not out.exists()  # no partial output


def test_argument_and_annotation_errors_name_the_culprit(tmp_path):
    r = bench("--images", tmp_path, "--out", tmp_path / "o")
    assert r.returncode != 0 and "--images goes with --omnidocbench" in r.stderr
    r = bench("--omnidocbench", tmp_path / "missing.json", "--out", tmp_path / "o")
    assert r.returncode == 2 and "missing.json" in r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"layout_dets": []}')
    r = bench("--omnidocbench", bad, "--images", tmp_path, "--out", tmp_path / "o")
    assert r.returncode == 2 and "expected a JSON list of pages" in r.stderr and "bad.json" in r.stderr



def test_max_candidates_samples_each_language():
    """--max-candidates caps the OCR'd crops per language, a seeded choice."""
    from textsynth.evaluation.bench import sample_per_language

    langs = ["zh"] * 30 + ["en"] * 5 + ["zh", "en"] * 10
    live = [i for i in range(len(langs)) if i % 7]          # some were blank
    pick = sample_per_language(live, langs, 8, seed=3)
    assert pick == sorted(pick) and set(pick) <= set(live)
    assert sum(langs[i] == "zh" for i in pick) == 8 and sum(langs[i] == "en" for i in pick) == 8
    assert pick == sample_per_language(live, langs, 8, seed=3)      # re-runnable
    assert pick != sample_per_language(live, langs, 8, seed=4)
    few = sample_per_language(live, langs, 100, seed=3)              # fewer than the cap: all of them
    assert few == live


def test_sparse_pdf_crops_are_skipped_before_ocr(assets):
    """A PDF crop whose text layer holds under half the character range cannot pass the OCR
    filter: it is skipped (counted) before any OCR; the layer's count is what OCR reads."""
    from textsynth import paths
    from textsynth.curation.cascade import count_chars
    from textsynth.evaluation.bench import WINDOW_CHARS
    from textsynth.evaluation.sources import pdf as pdf_source
    from textsynth.evaluation.sources.common import Skips
    from textsynth.ocr import OCR

    (path,) = (paths.home() / "documents").rglob("texlive_texlive-zh-cn_texlive-zh-cn.pdf")
    every = pdf_source.candidates(str(path), "t", 12, Skips(), 60)
    skips = Skips()
    dense = pdf_source.candidates(str(path), "t", 12, skips, 60, WINDOW_CHARS)
    assert 0 < len(dense) < len(every)
    assert skips.counts["sparse_crop"] == len(every) - len(dense)
    boxes = {(c.origin["page"], tuple(c.origin["box"])) for c in every}
    assert {(c.origin["page"], tuple(c.origin["box"])) for c in dense} <= boxes
    # the estimate against what PP-OCRv5 reads in the densest Chinese crop
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(path))

    def layer(c):
        page = doc[c.origin["page"] - 1]
        lines = [ln for b in pdf_source.text_blocks(page.get_textpage()) for ln in b["lines"]]
        return pdf_source.window_chars(lines, *c.origin["box"][:2], c.origin["scale"], page.get_size()[1])

    zh = max((c for c in dense if c.lang == "zh"), key=layer)
    have, read = layer(zh), count_chars(OCR().read_text(zh.image))
    assert have >= WINDOW_CHARS["zh"] and 0.7 * have <= read <= 1.3 * have, (have, read)
