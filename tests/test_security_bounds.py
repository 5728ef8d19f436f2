"""Resource bounds (issue 25): a small input never takes unbounded memory, time or disk.

Curate: one real `textsynth curate` run takes every hostile input at once, beside a good page
(each shard and file is a partition of its own), while the peak memory of every process of the
job is sampled. The table says what each input must become: a counted reject with its reason,
naming the file, and no failed partition. Synth: hostile background shards are counted skips.
Inputs refused before any work (a brace pattern of a billion names, an oversized or
self-expanding config) exit 2 naming the culprit, with nothing written.
"""

from __future__ import annotations

import io
import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from bad_files import huge_page_pdf, png_bomb, sparse_tar
from docpages import BIN, EN_PDF, densest_tiles, doc, page, save

MB = 1_000_000
# Tight limits so that a case needs only a few MB of input; the defaults are what the
# sparse tar, the 14400 pt page and the wrong-typed columns meet.
LIMITS = {"max_file_bytes": 1 * MB, "max_sample_bytes": 2 * MB, "max_json_bytes": 100_000,
          "max_table_rows": 100, "max_row_group_bytes": 3 * MB, "max_pages_per_file": 3}
PEAK_RSS = 2 << 30   # no process of the job may reach this (the sparse members declare 3 GiB)


def _tar(path: Path, members: dict[str, bytes]) -> None:
    import tarfile

    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _table(path: Path, column: str, values: list, kind: pa.DataType | None = None, **write) -> None:
    pq.write_table(pa.table({"key": [f"r{i}" for i in range(len(values))],
                             column: pa.array(values, kind)}), path, **write)


def _five_blank_pages(path: Path) -> None:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument.new()
    for _ in range(5):
        pdf.new_page(200, 200)
    pdf.save(str(path))


@dataclass
class Case:
    id: str
    make: Callable[[Path], None]   # writes the input file at the given path
    file: str                      # the input's file name
    reason: str                    # the reject it must become
    says: str                      # in the reject's detail


CASES = [
    Case("sparse-member-declaring-3GiB", lambda p: sparse_tar(p, declared=3 << 30), "sparse.tar",
         "sparse_member", "big.png is a sparse file declaring 3221225472 bytes"),
    Case("pdf-page-14400pt", lambda p: huge_page_pdf(doc(EN_PDF), p), "huge-page.pdf",
         "too_many_pixels", "14400x14400 pt at 96 dpi is 19200x19200 px"),
    Case("pdf-longer-than-max-pages", _five_blank_pages, "five-pages.pdf",
         "too_many_pages", "5 pages selected; pages after the first 3 were not read (ingest.max_pages_per_file)"),
    Case("png-header-30000x30000", png_bomb, "bomb.png", "too_many_pixels", "30000x30000"),
    Case("image-file-over-max-file-bytes", lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(2 * MB)),
         "big.png", "file_too_large", "ingest.max_file_bytes"),
    Case("tar-member-over-max-file-bytes", lambda p: _tar(p, {"m.png": bytes(2 * MB)}), "member.tar",
         "member_too_large", "m.png is 2000000 bytes"),
    Case("tar-sample-over-max-sample-bytes",
         lambda p: _tar(p, {f"s.{i}.png": bytes(900_000) for i in range(3)}), "sample.tar",
         "sample_too_large", "ingest.max_sample_bytes"),
    Case("tar-json-over-max-json-bytes",
         lambda p: _tar(p, {"j.png": b"x", "j.json": b'{"a": "' + b"x" * 200_000 + b'"}'}), "json.tar",
         "metadata_too_large", "ingest.max_json_bytes"),
    # json.loads raises RecursionError here, which used to fail the whole partition
    Case("tar-json-nested-10k-deep",
         lambda p: _tar(p, {"d.png": b"not a png", "d.json": b"[" * 10_000 + b"]" * 10_000}), "deep.tar",
         "unreadable_image", "UnidentifiedImageError"),
    Case("parquet-url-column-int64", lambda p: _table(p, "url", [1, 2, 3]), "url-int.parquet",
         "bad_column_type", "column 'url' is int64; image URLs must be strings (ingest.table_url_column)"),
    Case("parquet-url-column-struct",
         lambda p: _table(p, "url", [{"href": "http://127.0.0.1:9/x.png"}]), "url-struct.parquet",
         "bad_column_type", "column 'url' is struct<href: string>; image URLs must be strings"),
    Case("parquet-image-column-int64", lambda p: _table(p, "image", [1, 2]), "image-int.parquet",
         "bad_column_type", "column 'image' is int64; image bytes must be binary"),
    Case("parquet-image-column-string", lambda p: _table(p, "image", ["a.png"]), "image-str.parquet",
         "bad_column_type", "column 'image' is string"),
    # a thousand null rows take a few hundred bytes (run-length encoded)
    Case("parquet-rows-over-max-table-rows", lambda p: _table(p, "image", [None] * 1000, pa.binary()),
         "rows.parquet", "too_many_rows", "1000 rows; rows after the first 100 were not read"),
    # zeros compress: a 4 MB cell in a file of a few KB
    Case("parquet-row-group-over-max-bytes",
         lambda p: _table(p, "image", [bytes(4 * MB)], compression="zstd"), "rowgroup.parquet",
         "row_group_too_large", "ingest.max_row_group_bytes"),
    Case("parquet-cell-over-max-file-bytes",
         lambda p: _table(p, "image", [bytes(2 * MB)], compression="zstd"), "cell.parquet",
         "cell_too_large", "column 'image' holds 2000000 bytes"),
]


def _peak_rss(cmd: list[str], timeout: float) -> tuple[subprocess.CompletedProcess, int]:
    """Run ``cmd``; also the largest resident size any process of it reached (Ray workers
    included: they are its descendants), sampled every 50 ms."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak, deadline = 0, time.monotonic() + timeout
    root = psutil.Process(proc.pid)
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            family = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        for p in family:
            try:
                peak = max(peak, p.memory_info().rss)
            except psutil.Error:
                pass
        time.sleep(0.05)
    out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), peak


@pytest.fixture(scope="module")
def curated(assets, tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    inputs = root / "in"
    inputs.mkdir()
    for case in CASES:
        case.make(inputs / case.file)
    save(inputs / "good.png", densest_tiles(page(doc(EN_PDF), 4), 1)[0])
    cfg = root / "curate.yaml"
    cfg.write_text(yaml.safe_dump({"ingest": {**LIMITS, "category_field": "site"}, "crop": {"sizes": [256]}}))
    out = root / "out"
    proc, peak = _peak_rss([str(BIN / "textsynth"), "curate", "--quiet", "--config", str(cfg),
                            "--out", str(out), "--input", str(inputs)], timeout=900)
    rejects = [r for f in sorted((out / "rejects").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    stats = json.loads((out / "stats.json").read_text()) if (out / "stats.json").exists() else {}
    return proc, peak, stats, rejects


def test_curate_run_is_bounded(curated):
    proc, peak, stats, _ = curated
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert stats["partitions_failed"] == {} and stats["kept"] >= 1, stats
    assert peak < PEAK_RSS, f"a process of the job reached {peak / 2**30:.1f} GiB"
    assert stats["stage_seconds"]["ingest"] < 60, stats["stage_seconds"]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input_is_a_counted_reject(curated, case: Case):
    _, _, stats, rejects = curated
    mine = [r for r in rejects if json.loads(r["origin"])["file"].endswith("/" + case.file)]
    assert [r["reason"] for r in mine].count(case.reason) >= 1, mine
    assert any(case.says in r["detail"] for r in mine if r["reason"] == case.reason), mine
    assert stats["rejects"][case.reason] >= 1, stats["rejects"]


def test_page_ranges_cost_what_the_document_has():
    from textsynth.curation.ingest import parse_ranges

    t0 = time.perf_counter()
    assert parse_ranges("1-999999999999,2,7-5", 3) == [0, 1, 2]
    assert time.perf_counter() - t0 < 1


def test_brace_patterns_are_counted_before_they_expand():
    from textsynth.shardio import expand_braces

    for pattern in ("x-{0..999999999}.tar", "{0..999}{0..999}{0..999}", "{a,b}" * 40, "{0..999}{a,{0..9999}}"):
        t0 = time.perf_counter()
        with pytest.raises(ValueError, match="expands to more than 1000000 names"):
            expand_braces(pattern)
        assert time.perf_counter() - t0 < 5, pattern
    assert len(expand_braces("{0..999}{0..999}")) == 1_000_000


# ------------------------------------------------------------------ refused before any work

def _merge_key_bomb() -> str:
    """YAML merge keys double a mapping per line: 40 lines stand for 2^40 keys."""
    lines = ["a0: &a0 {k0: 1}"] + [f"a{i}: &a{i} {{<<: [*a{i - 1}, *a{i - 1}], k{i}: 1}}" for i in range(1, 40)]
    return "\n".join(lines) + "\n"


@dataclass
class Refusal:
    id: str
    argv: Callable[[Path], list[str]]   # (tmp dir) -> textsynth argv before --out
    says: str


def _config(tmp: Path, text: str) -> str:
    (tmp / "c.yaml").write_text(text)
    return str(tmp / "c.yaml")


REFUSALS = [
    Refusal("curate-brace-pattern-of-a-billion-names",
            lambda t: ["curate", "--input", str(t / "web-{000000000..999999999}.tar")],
            "expands to more than 1000000 names"),
    Refusal("curate-config-over-1MiB", lambda t: ["curate", "--input", str(t), "--config",
                                                  _config(t, "# padding\n" * 120_000)],
            "is over 1048576 bytes"),
    Refusal("synth-config-over-1MiB", lambda t: ["synth", "--config", _config(t, "# padding\n" * 120_000)],
            "is over 1048576 bytes"),
    Refusal("synth-config-merge-key-bomb", lambda t: ["synth", "--config", _config(t, _merge_key_bomb())],
            "c.yaml"),
    Refusal("synth-background-brace-bomb",
            lambda t: ["synth", "--config", _config(t, yaml.safe_dump(
                {"background": {"dirs": [str(t / "bg-{0..9}{0..999}{0..999}.tar")]}}))],
            "expands to more than 1000000 names"),
]


@pytest.mark.parametrize("case", REFUSALS, ids=[c.id for c in REFUSALS])
def test_refused_before_any_work(case: Refusal, assets, tmp_path):
    out = tmp_path / "out"
    t0 = time.monotonic()
    proc = subprocess.run([str(BIN / "textsynth"), *case.argv(tmp_path), "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert case.says in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert time.monotonic() - t0 < 60 and not out.exists()


# ------------------------------------------------------------------ synth: background shards

def test_hostile_background_members_are_counted_skips(assets, tmp_path):
    bg = tmp_path / "bg"
    bg.mkdir()
    for p in sorted((assets / "backgrounds").rglob("*.png"))[:2]:
        (bg / p.name).write_bytes(p.read_bytes())
    sparse_tar(bg / "sparse.tar", declared=3 << 30)
    noise = np.random.default_rng(0).integers(0, 256, 2 * MB, dtype=np.uint8).tobytes()
    _tar(bg / "big.tar", {"big.png": noise})
    cfg = tmp_path / "synth.yaml"
    cfg.write_text(yaml.safe_dump({"background": {"dirs": [str(bg)], "max_member_mb": 1}}))
    out = tmp_path / "out"
    proc, peak = _peak_rss([str(BIN / "textsynth"), "synth", "--config", str(cfg), "--num-samples", "40",
                            "--samples-per-shard", "20", "--out", str(out)], timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    skips = json.loads((out / "stats.json").read_text())["skips"]
    assert skips.get("bad_background:sparse_member", 0) >= 1, skips
    assert skips.get("bad_background:member_too_large", 0) >= 1, skips
    assert peak < PEAK_RSS, f"a process of the job reached {peak / 2**30:.1f} GiB"
