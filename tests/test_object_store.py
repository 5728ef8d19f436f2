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
