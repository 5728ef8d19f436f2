"""Shared fixtures: the ci asset profile (real fonts, corpora, photos, OCR models)."""

from __future__ import annotations

import shutil

import cv2
import pypdfium2 as pdfium
import pytest
from docpages import EN_PDF, ZH_BOOK, curate, densest_tiles, doc, page, save

from textsynth import paths


@pytest.fixture(scope="session")
def assets():
    """The asset cache with the ci profile present (fetched once if missing)."""
    from textsynth.assets.fetch import fetch

    # the downloads stay: tests reuse them (test_ocr's wheel, the apt lists of test_assets)
    fetch("ci", log=lambda *_: None, keep_downloads=True)
    return paths.home()


@pytest.fixture(scope="session")
def fonts(assets):
    from textsynth.synthesis.fonts import FontRegistry

    return FontRegistry.from_dirs()


@pytest.fixture(scope="session")
def curate_inputs(assets, tmp_path_factory):
    root = tmp_path_factory.mktemp("curate-in")
    imgs = root / "images"
    imgs.mkdir()
    sharp = densest_tiles(page(doc(EN_PDF), 4), 2)
    for i, tile in enumerate(sharp):
        save(imgs / f"sharp{i}.png", tile)
        save(imgs / f"blur{i}.png", cv2.GaussianBlur(tile, (0, 0), 2))
        save(imgs / f"jpeg{i}.jpg", tile, cv2.IMWRITE_JPEG_QUALITY, 10)
    shutil.copy(imgs / "sharp0.png", imgs / "exact-copy.png")
    save(imgs / "near-copy.jpg", sharp[1], cv2.IMWRITE_JPEG_QUALITY, 95)
    photo = cv2.imread(str(next((paths.home() / "backgrounds").rglob("coffee.png"))))
    cv2.imwrite(str(imgs / "photo.png"), photo[:256, :256])
    data = (imgs / "sharp1.png").read_bytes()
    (imgs / "truncated.png").write_bytes(data[: len(data) // 2])
    (imgs / "corrupt.pdf").write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 20)
    # One Chinese body-text page (page 20 of lshort-zh-cn) as its own PDF: the config's page
    # range ('4') applies to every PDF, and this one is page 1 of 1.
    zh = pdfium.PdfDocument.new()
    zh.import_pages(pdfium.PdfDocument(str(doc(ZH_BOOK))), [19])
    zh.save(str(root / "lshort-p20.pdf"))
    cfg = root / "curate.yaml"
    cfg.write_text("ingest: {pdf_pages: '4,1'}\ncrop: {sizes: [256]}\n")
    return {"images": imgs, "pdf": doc(EN_PDF), "zh_pdf": root / "lshort-p20.pdf", "config": cfg}


@pytest.fixture(scope="session")
def curated(curate_inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("curate-out") / "out"
    proc = curate(out, curate_inputs)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return out, proc.stdout, proc.stderr


@pytest.fixture(scope="session")
def micro_data(assets, tmp_path_factory):
    """The micro experiment's data and benches (test_experiment.py's MICRO, ``--only data``),
    made once per session: `micro` resumes from them, test_experiment_base.py copies them (its
    configs change no data stage)."""
    from test_experiment import MICRO, _run, _write

    tmp = tmp_path_factory.mktemp("experiment")
    cfg = _write(tmp, MICRO)
    out = tmp / "out"
    first = _run(cfg, out, "--only", "data")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-5000:]
    assert "stopped after the data stages" in first.stdout
    assert not (out / "runs").exists()
    return cfg, out


@pytest.fixture(scope="session")
def s3(tmp_path_factory):
    """A real S3-compatible server (SeaweedFS, ``textsynth.s3local``) on 127.0.0.1 for the
    session; its made-up keys are in this process's environment (so every subprocess and
    Ray worker started from here has them) and removed afterwards."""
    import os

    from textsynth.s3local import S3Local

    server = S3Local(tmp_path_factory.mktemp("s3"))
    saved = {k: os.environ.get(k) for k in server.env}
    with server:
        os.environ.update(server.env)
        try:
            yield server
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


@pytest.fixture(scope="session")
def web_inputs(assets, tmp_path_factory):
    """A webdataset tar and a parquet table of document tiles and a photo, on disk."""
    import io
    import json
    import tarfile

    import cv2
    import pyarrow as pa
    import pyarrow.parquet as pq
    from docpages import EN_PDF, densest_tiles, doc, page

    png = lambda rgb: cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes()  # noqa: E731
    tiles = [png(t) for p in (4, 5) for t in densest_tiles(page(doc(EN_PDF), p), 2)]
    web = tmp_path_factory.mktemp("web")
    (web / "news").mkdir()
    with tarfile.open(web / "news" / "part-000.tar", "w") as tar:
        for key, data in (("a", tiles[0]), ("b", tiles[1])):
            for name, blob in ((f"{key}.png", data), (f"{key}.json", json.dumps({"site": "news"}).encode())):
                info = tarfile.TarInfo(name)
                info.size = len(blob)
                tar.addfile(info, io.BytesIO(blob))
    (web / "tables").mkdir()
    pq.write_table(pa.table({"key": ["r0", "r1"], "image": [tiles[2], tiles[3]]}),
                   web / "tables" / "t-000.parquet")
    cfg = web / "curate.yaml"
    cfg.write_text("crop: {sizes: [256]}\n")
    return web
