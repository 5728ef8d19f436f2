"""Text-fidelity evaluation: NED, reference reconstructions, the eval runner, bench building."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from textsynth.curation import dedup
from textsynth.evaluation import bench, references
from textsynth.evaluation.sources import pdf as pdf_source
from textsynth.evaluation.sources.common import Skips
from textsynth.metrics import ned, psnr, ssim

BIN = Path(sys.executable).parent


@pytest.mark.parametrize("a, b, expected", [
    ("orange", "orango", 1 - 1 / 6),      # the report's example: one substitution in six
    ("orange", "orange", 1.0),
    ("", "", 1.0),
    ("abc", "", 0.0),
    ("kitten", "sitting", 1 - 3 / 7),
    ("中文字符", "中文字", 1 - 1 / 4),
    ("rn", "m", 0.0),                      # OCR's classic confusion costs everything here
])
def test_ned_on_hand_made_pairs(a, b, expected):
    assert ned(a, b) == pytest.approx(expected)
    assert ned(b, a) == pytest.approx(expected)  # symmetric


def test_pixel_metrics_and_references():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    assert psnr(img, img) == float("inf") and ssim(img, img) == pytest.approx(1.0)
    for spec in ("identity", "bicubic-f8", "bicubic-f32", "jpeg-q20"):
        out = references.load(spec)(img)
        assert out.shape == img.shape and out.dtype == np.uint8
    assert np.array_equal(references.load("identity")(img), img)
    assert psnr(img, references.load("jpeg-q90")(img)) > psnr(img, references.load("jpeg-q20")(img))
    with pytest.raises(ValueError, match="unknown model spec"):
        references.load("vae-f16")


def test_ssim_and_edit_distance_match_their_references(res_images):
    """Issue 14.8: SSIM equals scikit-image's (gaussian, sigma 1.5) to 1e-4 on rendered
    text images and their degraded copies (the eval calibration's references); the edit
    distance equals a plain dynamic-programming Levenshtein."""
    from skimage.metrics import structural_similarity

    from textsynth.metrics import levenshtein

    for img in res_images:
        for spec in ("bicubic-f8", "jpeg-q20", "jpeg-q90", "grey"):
            out = references.load(spec)(img)
            ref = structural_similarity(img, out, gaussian_weights=True, sigma=1.5,
                                        use_sample_covariance=False, data_range=255, channel_axis=2)
            assert ssim(img, out) == pytest.approx(ref, abs=1e-4), spec

    def dp(a, b):
        prev = list(range(len(b) + 1))
        for i, ca in enumerate(a, 1):
            cur = [i]
            for j, cb in enumerate(b, 1):
                cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
            prev = cur
        return prev[-1]
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = "".join(rng.choice(list("ab中文 x"), int(rng.integers(0, 12))))
        b = "".join(rng.choice(list("ab中文 x"), int(rng.integers(0, 12))))
        assert levenshtein(a, b) == dp(a, b), (a, b)


@pytest.fixture(scope="module")
def res_images(assets):
    from textsynth.config import load_config
    from textsynth.synthesis.generate import Stats, make_sample
    from textsynth.synthesis.resources import Resources

    res = Resources(load_config(None, seed=11))
    return [make_sample(res, 11, i, Stats())[0] for i in range(4)]


def test_char_count_filter_and_ngram_dedup_on_constructed_cases():
    assert bench.char_range_ok(200, "zh") and bench.char_range_ok(600, "zh")
    assert not bench.char_range_ok(199, "zh") and not bench.char_range_ok(601, "zh")
    assert not bench.char_range_ok(250, "en") and bench.char_range_ok(300, "en")
    assert bench.char_range_ok(250, "mixed")  # mixed text counts as Chinese
    base = "今天天气很好我们一起去公园散步吧然后回家吃饭" * 3
    cands = [dedup.Candidate("a", "page1", len(base), dedup.ngrams(base)),
             dedup.Candidate("b", "page1", len(base) - 4, dedup.ngrams(base[4:])),  # same text, shifted
             dedup.Candidate("c", "page1", 30, dedup.ngrams("完全不同的一段文字内容在这里出现了" * 2))]
    assert dedup.near_duplicates(cands, 0.2) == {"b": ("dup_ngram", "a")}
    # Between 0.2 and 0.3 overlap: a duplicate within a page, not within a category.
    x = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ"
    y = x[:20] + "zyxwvutsrqponmlkjihgfedcba"
    o = dedup.overlap(dedup.ngrams(x), dedup.ngrams(y))
    assert 0.2 < o < 0.3
    pair = [dedup.Candidate("x", "g", 46, dedup.ngrams(x)), dedup.Candidate("y", "g", 46, dedup.ngrams(y))]
    assert dedup.near_duplicates(pair, 0.2) and not dedup.near_duplicates(pair, 0.3)


@pytest.fixture(scope="module")
def synth_bench(assets, tmp_path_factory):
    """A tiny synthetic bench: large, dark-on-light text the OCR reads, ground truth known."""
    from textsynth.config import load_config
    from textsynth.synthesis.generate import Stats, make_sample
    from textsynth.synthesis.render import encode
    from textsynth.synthesis.resources import Resources
    from textsynth.shards import filesystem, pack, publish

    cfg = load_config(size={"bucket_probs": {"17-20": 1.0}}, layout={"lines": [2, 3], "blocks": [1, 1]},
                      background={"mode": "plain"})
    res = Resources(cfg)
    out = tmp_path_factory.mktemp("bench") / "synthbench"
    samples = []
    for i in range(4):
        img, meta = make_sample(res, 7, i, Stats())
        key = f"synth-000000-{i:06d}"
        samples.append((key, f"{key}.png", encode(img, "png"), meta))
    fs, root = filesystem(str(out))
    fs.create_dir(f"{root}/shards", recursive=True)
    fs.create_dir(f"{root}/_completions", recursive=True)
    publish(fs, root, "synth-000000", *pack(samples), len(samples))
    return out


def test_eval_identity_is_perfect_and_compression_scores_lower(synth_bench, tmp_path):
    from textsynth.evaluation.run import evaluate
    from textsynth.ocr import OCR

    ocr = OCR()
    ident = evaluate(str(synth_bench), "identity", str(tmp_path / "id"), cache_dir=str(tmp_path / "c"),
                     ocr=ocr, progress=False)
    assert ident["overall"]["n"] == 4 and ident["overall"]["ned"] == 1.0
    assert ident["overall"]["psnr"] == 100.0 and ident["overall"]["ssim"] == 1.0
    assert ident["overall"]["gt_ned_orig"] >= 0.8  # the OCR itself reads the synthetic text
    assert ident["ocr_cache_hits"] == 0
    coarse = evaluate(str(synth_bench), "bicubic-f16", str(tmp_path / "f16"), cache_dir=str(tmp_path / "c"),
                      ocr=ocr, progress=False)
    assert coarse["ocr_cache_hits"] == 4  # originals were read once, by the identity run
    assert coarse["overall"]["ned"] < 0.9 and coarse["overall"]["psnr"] < 40
    assert coarse["overall"]["gt_ned_recon"] < ident["overall"]["gt_ned_recon"]

    # Output schema: JSON, Markdown and per-image parquet.
    saved = json.loads((tmp_path / "f16" / "metrics.json").read_text())
    assert {"model", "bench", "overall", "by_lang", "by_size_bucket", "lpips", "seconds"} <= set(saved)
    assert saved["by_size_bucket"]["17-20"]["n"] == 4
    table = pq.read_table(tmp_path / "f16" / "per_image.parquet")
    assert table.num_rows == 4
    assert {"key", "lang", "size_bucket", "ocr_orig", "ocr_recon", "ned", "psnr", "ssim", "lpips",
            "gt_ned_orig", "gt_ned_recon"} <= set(table.column_names)
    assert "| all | 4 |" in (tmp_path / "f16" / "metrics.md").read_text()


def test_lpips_is_reported_when_a_network_is_given(synth_bench, tmp_path):
    """Through the same loading code as real weights, on a tiny random network (no download)."""
    from textsynth.evaluation.run import evaluate
    from textsynth.vae import load_lpips

    lpips = load_lpips("random")
    img = np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)
    assert lpips(img, img) == pytest.approx(0.0, abs=1e-6) and lpips(img, img[::-1]) > 0
    r = evaluate(str(synth_bench), "jpeg-q20", str(tmp_path / "j"), cache_dir=str(tmp_path / "c"),
                 limit=2, lpips=lpips, progress=False)
    assert r["lpips"] == "computed" and r["overall"]["lpips"] > 0
    assert pq.read_table(tmp_path / "j" / "per_image.parquet")["lpips"].null_count == 0


def test_eval_cli_reports_and_rejects_bad_specs(synth_bench, tmp_path):
    proc = subprocess.run([str(BIN / "textsynth"), "eval", "--bench", str(synth_bench), "--model", "jpeg-q50",
                           "--out", str(tmp_path / "j"), "--cache-dir", str(tmp_path / "c"), "--limit", "2"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "NED" in proc.stdout and json.loads((tmp_path / "j" / "metrics.json").read_text())["overall"]["n"] == 2
    bad = subprocess.run([str(BIN / "textsynth"), "eval", "--bench", str(synth_bench), "--model", "nonsense"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown model spec" in bad.stderr


def test_text_blocks_of_a_real_pdf_page(assets):
    import pypdfium2 as pdfium

    from textsynth import paths

    (pdf,) = (paths.home() / "documents").rglob("latex_lshort-chinese_lshort-zh-cn.pdf")
    doc = pdfium.PdfDocument(str(pdf))
    blocks = pdf_source.text_blocks(doc[19].get_textpage())
    assert len(blocks) >= 3
    assert all(5 < b["em"] < 20 and b["top"] > b["bottom"] for b in blocks)  # 10.5 pt body text
    assert {"zh"} <= {b["lang"] for b in blocks}
    skips = Skips()
    cands = pdf_source.candidates(str(pdf), "lshort", 21, skips)
    assert cands and all(c.image.shape == (256, 256, 3) for c in cands)
    zh = [c for c in cands if c.lang == "zh"]
    body = [c for c in zh if c.origin["page"] == 20]
    # Body text is 10.5 pt: scaled so a character is ~16 px (headings and notes differ).
    assert body and abs(np.median([c.origin["scale"] for c in body]) - 16 / 10.5) < 0.3


def test_breakdowns_follow_table3_and_order_size_buckets():
    from textsynth.evaluation.run import aggregate, breakdown_fields, markdown

    def row(source, layout, lang, bucket, ned, gt=None):
        return {"data_source": source, "layout": layout, "lang": lang, "size_bucket": bucket, "template": None,
                "ned": ned, "psnr": 30.0, "ssim": 0.9, "lpips": None, "gt_ned_orig": gt, "gt_ned_recon": gt}

    rows = [row("book", "single_column", "zh", "13-16", 0.9), row("book", "double_column", "zh", "5-8", 0.1),
            row("newspaper", "double_column", "en", "9-12", 0.5)]
    agg = aggregate(rows)
    assert agg["by_data_source"]["book"] == {"n": 2, "ned": 0.5, "psnr": 30.0, "ssim": 0.9}
    assert list(agg["by_size_bucket"]) == ["5-8", "9-12", "13-16"]
    md = markdown("m", "b", agg)
    assert md.index("### By data source") < md.index("### By layout") < md.index("### By language") \
        < md.index("### By character size")
    assert "| group | n | SSIM ↑ | PSNR ↑ | NED ↑ |" in md and "LPIPS" not in md.split("FID")[0]
    # A single group gets no table, only a mention ("unknown" not even that); missing values are "unknown".
    md = markdown("m", "b", aggregate([row("synth", None, "en", "17-20", 0.5), row("synth", None, None, "5-8", 0.7)]))
    assert "### By data source" not in md and "### By layout" not in md and "### By character size" in md
    assert "One group only (the overall numbers): data source `synth`." in md and "| unknown | 1 |" in md
    # synth / curate samples: the input category or the source stands in for data_source
    assert breakdown_fields({"source": "synth", "lang": "en", "size_bucket": "5-8", "origin": {}}) == \
        {"data_source": "synth", "layout": "unknown", "lang": "en", "size_bucket": "5-8", "template": "unknown"}
    assert breakdown_fields({"source": "doc", "origin": {"category": "docs"}})["data_source"] == "docs"


def test_eval_breaks_down_by_origin_data_source_and_layout(synth_bench, tmp_path):
    """A bench whose samples carry OmniDocBench's page attributes in ``origin`` (and one that
    only names its input category) gets by_data_source / by_layout sections and columns."""
    from textsynth.evaluation.run import bench_members, evaluate
    from textsynth.shards import filesystem, pack, publish

    origins = [{"data_source": "book", "layout": "single_column"}, {"data_source": "book", "layout": "double_column"},
               {"data_source": "academic_literature", "layout": "double_column"}, {"category": "docs"}]
    samples = [(key, name, data, {**meta, "origin": o})
               for (key, name, data, meta), o in zip(bench_members(synth_bench), origins)]
    fs, root = filesystem(str(tmp_path / "bench"))
    fs.create_dir(f"{root}/shards", recursive=True)
    fs.create_dir(f"{root}/_completions", recursive=True)
    publish(fs, root, "bench-000000", *pack(samples), len(samples))

    # The grouping is under test here, not the OCR: PSNR/SSIM only (read_text=False, as for
    # photo benches) keeps it fast without standing anything in for the OCR.
    r = evaluate(str(tmp_path / "bench"), "jpeg-q50", str(tmp_path / "e"), cache_dir=str(tmp_path / "c"),
                 progress=False, read_text=False)
    assert {k: v["n"] for k, v in r["by_data_source"].items()} == {"academic_literature": 1, "book": 2, "docs": 1}
    assert {k: v["n"] for k, v in r["by_layout"].items()} == {"double_column": 2, "single_column": 1, "unknown": 1}
    saved = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert {"overall", "by_data_source", "by_layout", "by_lang", "by_size_bucket"} <= set(saved)
    md = (tmp_path / "e" / "metrics.md").read_text()
    assert md.index("### Overall") < md.index("### By data source") < md.index("### By layout")
    assert "| academic_literature | 1 |" in md and "| single_column | 1 |" in md
    rows = pq.read_table(tmp_path / "e" / "per_image.parquet").to_pylist()
    assert [(x["data_source"], x["layout"]) for x in rows] == \
        [("book", "single_column"), ("book", "double_column"), ("academic_literature", "double_column"),
         ("docs", "unknown")]
