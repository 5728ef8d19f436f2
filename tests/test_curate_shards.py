"""`textsynth curate` over shards: webdataset tars (folders, brace patterns) and parquet tables
of image bytes, with corrupt members, a truncated tar and a category field in the metadata."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile

import cv2
import pyarrow as pa
import pyarrow.parquet as pq

from docpages import BIN, EN_PDF, densest_tiles, doc, page


def _png(rgb) -> bytes:
    return cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes()


def _tar(path, samples) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tar:
        for key, files in samples:
            for ext, data in files.items():
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def test_curate_reads_tar_and_parquet_shards(assets, curate_inputs, tmp_path):
    tiles = [_png(t) for p in (4, 5) for t in densest_tiles(page(doc(EN_PDF), p), 2)]
    photo = (curate_inputs["images"] / "photo.png").read_bytes()
    web = tmp_path / "web"
    site = lambda s: json.dumps({"meta": {"site": s}}).encode()  # noqa: E731
    _tar(web / "news" / "part-000.tar", [
        ("a", {"png": tiles[0], "json": site("example.org")}),
        ("b", {"png": photo, "json": site("example.org")}),
        ("bad", {"png": b"\x89PNG\r\n\x1a\n garbage", "json": site("example.org")}),
        ("meta-only", {"json": b"{}"}),
    ])
    _tar(web / "blogs" / "part-000.tar", [("c", {"png": tiles[1]})])           # no metadata: folder
    whole = web / "broken" / "part-000.tar"
    _tar(whole, [("d", {"png": photo}), ("e", {"png": tiles[0]})])
    whole.write_bytes(whole.read_bytes()[:len(photo) + 2000])                    # truncated inside "e"
    (web / "tables").mkdir()
    pq.write_table(pa.table({"key": ["r0", "r1", "r2"],
                             "image": [tiles[2], None, b"not an image"],
                             "meta": [{"site": "tables.example"}] * 3}), web / "tables" / "t-000.parquet")
    cfg = tmp_path / "curate.yaml"
    cfg.write_text("ingest: {category_field: meta.site}\ncrop: {sizes: [256]}\n")
    out = tmp_path / "out"
    r = subprocess.run([str(BIN / "textsynth"), "curate", "--quiet", "--config", str(cfg), "--out", str(out),
                        "--input", str(web / "news" / "part-{000..000}.tar"), str(web / "blogs"),
                        str(web / "broken"), str(web / "tables" / "t-000.parquet")],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["partitions"] == 4 and stats["inputs"] == 4     # one partition per shard
    rej = stats["rejects"]
    assert rej["unreadable_image"] == 2 and rej["sample_without_image"] == 1
    assert rej["empty_image_cell"] == 1 and rej["unreadable_shard"] == 1

    index = pq.read_table(out / "index").to_pylist()
    kept = {(row["origin"]["file"].rsplit("/", 2)[-2], row["origin"]["key"]): row["origin"]["category"]
            for row in index}
    assert kept == {("news", "a"): "example.org", ("blogs", "c"): "blogs", ("tables", "r0"): "tables.example"}
    rejects = [x for f in sorted((out / "rejects").glob("*.parquet")) for x in pq.read_table(f).to_pylist()]
    where = {json.loads(x["origin"]).get("key"): x["reason"] for x in rejects}
    assert where["bad"] == where["r2"] == "unreadable_image"
    assert where["meta-only"] == "sample_without_image" and where["r1"] == "empty_image_cell"
    assert "d" in where  # the sample before the damage was read (a photo: rejected on its merits)


def test_mining_textrich_images_from_photo_shards(assets, tmp_path):
    """pipelines/configs/mine_textrich.yaml over a shard of photos and text-rich renders:
    whole images are kept or not; text-free photos leave before recognition."""
    from textsynth import paths
    from textsynth.config import load_config
    from textsynth.synthesis.generate import Stats, make_sample
    from textsynth.synthesis.recipe import Skip
    from textsynth.synthesis.resources import Resources

    cfg = load_config(paths.packaged_config("synth_docs.yaml"), seed=3)
    res, renders, i = Resources(cfg), [], 0
    while len(renders) < 3:
        try:
            renders.append(make_sample(res, 3, i, Stats())[0])
        except Skip:
            pass
        i += 1
    photos = [p.read_bytes() for p in sorted(paths.backgrounds_dir().rglob("*.png"))[:4]]
    _tar(tmp_path / "web" / "part-000.tar", [(f"photo{k}", {"png": b}) for k, b in enumerate(photos)]
         + [(f"render{k}", {"png": _png(r)}) for k, r in enumerate(renders)])
    out = tmp_path / "mined"
    r = subprocess.run([str(BIN / "textsynth"), "curate", "--quiet", "--config",
                        str(paths.packaged_config("mine_textrich.yaml")), "--out", str(out),
                        "--input", str(tmp_path / "web")], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["crops"] == 7                                  # one whole image per sample
    index = pq.read_table(out / "index").to_pylist()
    kept = {row["origin"]["key"] for row in index}
    assert kept and kept <= {f"render{k}" for k in range(3)}
    for row in index:
        assert (row["width"], row["height"]) == renders[0].shape[1::-1]   # whole, not cropped
        assert row["score_ocr_chars"] >= 20 and row["score_det_chars_max"] > 0
    rejects = [x for f in sorted((out / "rejects").glob("*.parquet")) for x in pq.read_table(f).to_pylist()]
    photo_reasons = {json.loads(x["origin"])["key"]: x["reason"] for x in rejects
                     if json.loads(x["origin"])["key"].startswith("photo")}
    assert len(photo_reasons) == 4 and "too_few_chars" not in photo_reasons.values()
