"""Every stage against a real S3-compatible server (SeaweedFS on 127.0.0.1, the ``s3``
fixture): the same job writes the same bytes to ``s3://`` as to local disk, a job killed
mid-write leaves nothing that ``verify`` accepts, and a resume redoes what is not whole."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.fs as pafs
import pytest

BIN = Path(sys.executable).parent
JOB = ["--num-samples", "48", "--samples-per-shard", "6", "--seed", "3", "--quiet"]
RESULT_FILES = ("shards/", "index/", "config.yaml", "README.md", "shards.json")  # not timings


def _ts(*args, timeout=900):
    return subprocess.run([str(BIN / "textsynth"), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def objects(s3, prefix: str) -> dict[str, bytes]:
    """Every object under ``prefix`` in the bucket, by its path relative to it."""
    fs, root = s3.filesystem(), f"{s3.bucket}/{prefix}"
    infos = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    return {i.path[len(root) + 1:]: fs.open_input_stream(i.path).read()
            for i in infos if i.type == pafs.FileType.File}


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def results(tree: dict[str, bytes]) -> dict[str, bytes]:
    """What a job made, without its timings (completion markers and stats.json record seconds)."""
    return {k: v for k, v in tree.items() if k.startswith(RESULT_FILES)}


@pytest.fixture(scope="module")
def local_synth(assets, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "synth"
    proc = _ts("synth", "--out", out, *JOB)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def s3_synth(s3, assets):
    uri = s3.uri("synth")
    proc = _ts("synth", "--out", uri, *JOB)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return uri


def test_synth_on_s3_is_byte_identical_and_verifies(s3, local_synth, s3_synth):
    remote, local = objects(s3, "synth"), files(local_synth)
    assert len([k for k in remote if k.startswith("shards/")]) == 8
    assert results(remote) == results(local)
    assert set(remote) == set(local)                         # markers and stats too, no temporaries
    ok = _ts("verify", s3_synth)
    assert ok.returncode == 0 and "OK" in ok.stdout, ok.stdout + ok.stderr
    again = _ts("synth", "--out", s3_synth, *JOB)
    assert again.returncode == 0 and "8 shards were already done" in again.stdout
    assert results(objects(s3, "synth")) == results(local)


def test_killed_job_on_s3_leaves_nothing_verify_accepts_and_resumes_identically(s3, local_synth):
    uri, fs, root = s3.uri("killed"), s3.filesystem(), f"{s3.bucket}/killed"
    proc = subprocess.Popen([str(BIN / "textsynth"), "synth", "--out", uri, *JOB],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 600
    while time.time() < deadline:
        markers = fs.get_file_info(pafs.FileSelector(f"{root}/_completions", allow_not_found=True))
        if len(markers) >= 2:
            break
        assert proc.poll() is None, "job finished before it could be killed"
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)           # the driver and its embedded Ray, mid-job
    proc.wait()
    time.sleep(2)                                 # orphaned workers may finish a shard
    # A store that published part of an object (or a stranger's truncation) must not pass:
    # cut a finished shard in half under its marker.
    name = sorted(i.base_name for i in fs.get_file_info(
        pafs.FileSelector(f"{root}/_completions")))[0].removesuffix(".json")
    whole = fs.open_input_stream(f"{root}/shards/{name}.tar").read()
    with fs.open_output_stream(f"{root}/shards/{name}.tar") as f:
        f.write(whole[: len(whole) // 2])
    bad = _ts("verify", uri)
    assert bad.returncode == 1
    assert f"{name}.tar: checksum mismatch" in bad.stdout and "incomplete" in bad.stdout
    resumed = _ts("synth", "--out", uri, *JOB)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert results(objects(s3, "killed")) == results(files(local_synth))   # the cut shard redone
    assert not [k for k in objects(s3, "killed") if ".tmp-" in k]          # no rename on S3
    assert _ts("verify", uri).returncode == 0


def _upload(s3, local: Path, prefix: str) -> None:
    fs = s3.filesystem()
    for rel, data in files(local).items():
        with fs.open_output_stream(f"{s3.bucket}/{prefix}/{rel}") as f:
            f.write(data)


def _without_origins(tree: dict[str, bytes]) -> dict:
    """A curate output's images and index rows, less what names where the inputs were."""
    import io
    import tarfile

    import pyarrow as pa
    import pyarrow.parquet as pq

    out = {}
    for k, v in tree.items():
        if k.startswith("shards/"):
            with tarfile.open(fileobj=io.BytesIO(v)) as tar:
                out[k] = {m.name: tar.extractfile(m).read() for m in tar if not m.name.endswith(".json")}
        elif k.startswith("index/"):
            rows = pq.ParquetFile(pa.BufferReader(v)).read().to_pylist()
            out[k] = [{c: x for c, x in r.items() if c not in ("origin", "image_offset", "image_size")}
                      for r in rows]
    return out


def test_curate_with_inputs_and_output_on_s3(s3, web_inputs, tmp_path):
    _upload(s3, web_inputs, "web")
    cfg = web_inputs / "curate.yaml"
    local_in = [web_inputs / "news" / "part-{000..000}.tar", web_inputs / "tables"]
    s3_in = [s3.uri("web/news/part-{000..000}.tar"), s3.uri("web/tables")]
    runs = {"local": (local_in, tmp_path / "local"), "to-s3": (local_in, s3.uri("cur-a")),
            "all-s3": (s3_in, s3.uri("cur-b"))}
    for name, (inputs, out) in runs.items():
        r = _ts("curate", "--quiet", "--num-cpus", 1, "--config", cfg, "--out", out, "--input", *inputs)
        assert r.returncode == 0, name + r.stdout[-2000:] + r.stderr[-3000:]
    local = files(tmp_path / "local")
    assert any(k.startswith("shards/") for k in local)
    # local inputs: the same bytes wherever the output goes
    assert results(objects(s3, "cur-a")) == results(local)
    # inputs on s3: the same crops and scores; only the recorded origins name another place
    remote = objects(s3, "cur-b")
    assert _without_origins(remote) == _without_origins(local)
    secret = s3.env["AWS_SECRET_ACCESS_KEY"].encode()
    assert not [k for k, v in remote.items() if secret in v]
    for uri in (s3.uri("cur-a"), s3.uri("cur-b")):
        ok = _ts("verify", uri)
        assert ok.returncode == 0, ok.stdout + ok.stderr


def _images(tree: dict[str, bytes]) -> dict[str, bytes]:
    """The image members of an output's shard tars (the JSON beside them names its inputs)."""
    import io
    import tarfile

    out = {}
    for k, v in tree.items():
        if k.startswith("shards/"):
            with tarfile.open(fileobj=io.BytesIO(v)) as tar:
                out.update({f"{k}/{m.name}": tar.extractfile(m).read() for m in tar
                            if not m.name.endswith(".json")})
    return out


def test_background_shards_on_s3_give_the_same_images(s3, assets, tmp_path):
    import io
    import tarfile

    from textsynth import paths

    photos = sorted(p for p in paths.backgrounds_dir().rglob("*") if p.suffix in (".png", ".jpg"))[:6]
    bg = tmp_path / "bg"
    bg.mkdir()
    for s in range(2):
        with tarfile.open(bg / f"bg-{s:03d}.tar", "w") as tar:
            for p in photos[s::2]:
                data = p.read_bytes()
                info = tarfile.TarInfo(f"{p.stem}{p.suffix}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    _upload(s3, bg, "bg")
    job = ["--num-samples", "12", "--samples-per-shard", "6", "--seed", "5", "--quiet"]
    for dirs, out in ((str(bg), tmp_path / "out"), (s3.uri("bg"), s3.uri("bg-out"))):
        r = _ts("synth", "--out", out, *job, "--set", f"background.dirs=['{dirs}']",
                "--set", "background.mode_probs={photo: 1.0}")
        assert r.returncode == 0, r.stderr[-3000:]
    local, remote = _images(files(tmp_path / "out")), _images(objects(s3, "bg-out"))
    assert len(local) == 12 and remote == local
    meta = objects(s3, "bg-out")["shards/synth-000000.tar"]
    assert b"s3://textsynth/bg/bg-00" in meta                      # the recipe names the shard


def test_bench_build_and_eval_on_s3(s3, assets, tmp_path):
    from docpages import EN_PDF, doc

    build = ["bench", "build", "--quiet", "--input", doc(EN_PDF), "--max-pages", 3, "--max-candidates", 12]
    for out in (tmp_path / "bench", s3.uri("bench")):
        r = _ts(*build, "--out", out)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    local = files(tmp_path / "bench")
    assert sum(k.startswith("shards/") for k in local) >= 1
    assert results(objects(s3, "bench")) == results(local)
    ev = ["eval", "--quiet", "--model", "bicubic-f8", "--ned", "lines", "--cache-dir", tmp_path / "cache"]
    for bench, out in ((tmp_path / "bench", tmp_path / "eval"), (s3.uri("bench"), s3.uri("eval"))):
        r = _ts(*ev, "--bench", bench, "--out", out)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
        assert "NED" in r.stdout
    remote = objects(s3, "eval")
    assert remote["per_image.parquet"] == (tmp_path / "eval" / "per_image.parquet").read_bytes()
    import json

    a, b = json.loads(remote["metrics.json"]), json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert a["bench"] == "s3://textsynth/bench?endpoint_override=" + s3.endpoint + "&scheme=http"
    for m in (a, b):
        for k in ("seconds", "bench", "ocr_cache_hits"):
            m.pop(k)
    assert a == b and a["overall"]["n"] >= 1


def test_train_reads_its_shards_from_s3(s3, assets, tmp_path):
    from test_vae import _make_synth, _tiny_cfg

    from textsynth.vae.config import checked
    from textsynth.vae.train import run

    local = _make_synth(tmp_path / "synth", 2, 12)
    _upload(s3, local, "train-synth")
    hist = {}
    for where, path in (("local", str(local)), ("s3", s3.uri("train-synth"))):
        cfg = checked(_tiny_cfg({"synth": {"paths": [path]}}, max_steps=8, log_every=1,
                                sample_every=100, ckpt_every=100))
        hist[where] = [h["loss"] for h in run(cfg, tmp_path / where, progress=False)["history"]]
    assert len(hist["s3"]) == 8 and hist["s3"] == hist["local"]   # the same samples, in the same order


def test_gallery_browses_an_s3_output_like_its_local_twin(s3, local_synth, s3_synth):
    import json
    import threading
    import urllib.request

    from textsynth.gallery.server import make_server

    answers = {}
    for where, spec in (("local", str(local_synth)), ("s3", s3_synth)):
        server, gallery = make_server([spec], port=0, quiet=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            ds = gallery.catalog.datasets["synth"]
            assert not ds.errors and len(ds.shards) == 8
            get = lambda path: urllib.request.urlopen(base + path).read()  # noqa: E731
            listing = json.loads(get("/api/query?per_page=100"))
            keys = [(it["shard"], it["key"]) for it in listing["items"]]
            answers[where] = {
                "counts": listing["counts"], "total": listing["total"],
                "images": [get(f"/api/image?dataset=synth&shard={s}&key={k}") for s, k in keys[::5]],
                "meta": [json.loads(get(f"/api/sample?dataset=synth&shard={s}&key={k}"))["meta"]
                         for s, k in keys[::7]],
                "stats": [json.loads(get("/api/stats?dataset=synth"))[k] for k in ("counts", "dataset")],
                "job_samples": json.loads(get("/api/stats?dataset=synth"))["job_stats"]["samples"]}
        finally:
            server.shutdown()
            server.server_close()
    assert answers["s3"]["total"] == 48 and answers["s3"] == answers["local"]


def test_experiment_out_on_s3_is_refused_with_the_reason(s3):
    r = _ts("experiment", "--config", "pipelines/configs/ablation_cpu.yaml", "--out", s3.uri("exp"), "--quick")
    assert r.returncode != 0 and "must be local" in r.stderr and "Traceback" not in r.stderr
