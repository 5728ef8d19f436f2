"""Sharded synthesis with a real Ray: job submission, resume after SIGKILL, failures, verify."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import webdataset as wds

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
JOB = ["--num-samples", "48", "--samples-per-shard", "6", "--seed", "3"]


def _synth(out, *extra, **kw):
    return subprocess.run([str(BIN / "textsynth"), "synth", "--out", str(out), *JOB, *extra],
                          capture_output=True, text=True, timeout=600, **kw)


def _shard_bytes(out: Path) -> dict[str, bytes]:
    """Every shard tar and index, by name."""
    return {p.name: p.read_bytes() for d in ("shards", "index") for p in sorted((out / d).iterdir())}


@pytest.fixture(scope="module")
def reference(assets, tmp_path_factory):
    """An uninterrupted run of the standard test job."""
    out = tmp_path_factory.mktemp("ref") / "out"
    proc = _synth(out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Token authentication" not in proc.stderr  # the embedded Ray stays quiet about auth
    assert "sample/s" in proc.stderr                    # the bar counts samples
    return out


def test_output_layout_and_readers(reference):
    shards = sorted((reference / "shards").glob("*.tar"))
    assert [p.name for p in shards] == [f"synth-{i:06d}.tar" for i in range(8)]
    assert len(list((reference / "_completions").glob("*.json"))) == 8
    stats = json.loads((reference / "stats.json").read_text())
    assert stats["samples"] == 48 and stats["shards_done"] == 8 and stats["shards_failed"] == []
    assert "seed: 3" in (reference / "config.yaml").read_text()
    samples = list(wds.WebDataset([str(p) for p in shards], shardshuffle=False).decode("rgb"))
    assert len(samples) == 48
    assert samples[0]["__key__"] == "synth-000000-000000"
    assert samples[0]["png"].shape == (256, 256, 3) and samples[0]["json"]["source"] == "synth"
    table = pq.read_table(reference / "index" / "synth-000003.parquet")
    assert table.num_rows == 6 and {"key", "lang", "size_bucket", "text"} <= set(table.column_names)
    assert not any("tmp" in p.name for p in (reference / "shards").iterdir())
    ok = subprocess.run([str(BIN / "textsynth"), "verify", str(reference)], capture_output=True, text=True)
    assert ok.returncode == 0 and "OK" in ok.stdout


def test_rerun_is_a_noop_and_deterministic(reference, tmp_path):
    before = _shard_bytes(reference)
    proc = _synth(reference)
    assert proc.returncode == 0 and "8 shards were already done" in proc.stdout
    assert _shard_bytes(reference) == before


def test_resume_after_sigkill_is_byte_identical(reference, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen([str(BIN / "textsynth"), "synth", "--out", str(out), *JOB],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline:
        if len(list((out / "_completions").glob("*.json"))) >= 2 if (out / "_completions").exists() else False:
            break
        assert proc.poll() is None, "job finished before it could be killed"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its embedded Ray, mid-job
    proc.wait()
    done = len(list((out / "_completions").glob("*.json")))
    assert 2 <= done < 8
    resumed = _synth(out)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # Workers of the killed job may finish the shard they were on after the driver died.
    already = int(re.search(r"\((\d+) shards were already done\)", resumed.stdout).group(1))
    assert done <= already < 8
    # Leftover temp files of the killed run may exist; the published shards must match.
    assert {k: v for k, v in _shard_bytes(out).items() if ".tmp-" not in k} == _shard_bytes(reference)


def test_failed_shard_is_retried_reported_and_others_kept(assets, tmp_path):
    out = tmp_path / "out"
    (out / "shards" / "synth-000002.tar").mkdir(parents=True)  # publishing shard 2 must fail
    proc = _synth(out)
    assert proc.returncode == 1
    assert "FAILED shards: 2" in proc.stdout and "[2]" in proc.stderr
    stats = json.loads((out / "stats.json").read_text())
    assert stats["shards_failed"] == [2] and stats["shards_done"] == 7
    assert len(list((out / "_completions").glob("*.json"))) == 7


def test_verify_finds_a_corrupted_shard(reference, tmp_path):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(reference, out)
    tar = out / "shards" / "synth-000004.tar"
    data = bytearray(tar.read_bytes())
    data[2000] ^= 0xFF
    tar.write_bytes(bytes(data))
    (out / "index" / "synth-000006.parquet").write_bytes(b"garbage")
    proc = subprocess.run([str(BIN / "textsynth"), "verify", str(out)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "synth-000004.tar: checksum mismatch" in proc.stdout
    assert "synth-000006.parquet: checksum mismatch" in proc.stdout
    assert "synth-000005" not in proc.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ray_job_submit_to_a_head_node(assets, tmp_path):
    """A real head node on free ports with its own temp dir; a job submitted to it."""
    tmp = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))  # short: Ray's socket paths are limited
    port, dash = _free_port(), _free_port()
    # The agents' default ports (52365 and friends) are taken while any other Ray runs on this
    # machine; then the job agent never starts and every submit waits out the deadline.
    agents = [f"--{flag}={_free_port()}" for flag in ("dashboard-agent-listen-port", "dashboard-agent-grpc-port",
                                                       "runtime-env-agent-port", "metrics-export-port")]
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PATH": f"{BIN}:{os.environ['PATH']}"}
    head = subprocess.Popen(
        [str(BIN / "ray"), "start", "--head", "--block", f"--port={port}", "--num-cpus=2",
         f"--dashboard-port={dash}", "--dashboard-host=127.0.0.1", "--include-dashboard=true",
         *agents, f"--temp-dir={tmp}", "--disable-usage-stats"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        address = f"http://127.0.0.1:{dash}"
        out = tmp_path / "out"
        submit = None
        deadline = time.monotonic() + 300  # the job API and its agent take a while on a busy machine
        while True:
            submit = subprocess.run(
                [str(BIN / "ray"), "job", "submit", "--address", address, "--working-dir", str(REPO),
                 "--", "python", "pipelines/synth.py", "--out", str(out), *JOB],
                env=env, capture_output=True, text=True, timeout=600)
            said = submit.stderr + submit.stdout
            not_up = ("Jobs API", "Connection", "No available agent", "try again later")  # starting
            if submit.returncode == 0 or not any(s in said for s in not_up) or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert submit.returncode == 0, (submit.stdout[-2000:], submit.stderr[-2000:])
        assert "8/8 shards, 48 samples" in submit.stdout
        assert subprocess.run([str(BIN / "textsynth"), "verify", str(out)]).returncode == 0

        # The curation entry point on the same cluster: one page of one sample PDF.
        (pdf,) = (assets / "documents").rglob("xelatex_nanicolle_nanicolle-doc-en.pdf")
        cfg = tmp_path / "curate.yaml"
        cfg.write_text("ingest: {pdf_pages: '4'}\ncrop: {sizes: [256]}\n")
        cur = subprocess.run(
            [str(BIN / "ray"), "job", "submit", "--address", address, "--working-dir", str(REPO),
             "--", "python", "pipelines/curate.py", "--config", str(cfg), "--input", str(pdf),
             "--out", str(tmp_path / "docs")], env=env, capture_output=True, text=True, timeout=600)
        assert cur.returncode == 0, (cur.stdout[-2000:], cur.stderr[-2000:])
        assert "1/1 partitions" in cur.stdout and "kept" in cur.stdout
        assert subprocess.run([str(BIN / "textsynth"), "verify", str(tmp_path / "docs")]).returncode == 0
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
        subprocess.run(["pkill", "-9", "-f", str(tmp)])  # anything left of this cluster only


def test_resume_is_byte_identical_with_a_bad_background(assets, tmp_path):
    """Issue 13.1: which photo a draw picks must not depend on what a worker process met in
    earlier shards, so a shard rendered on resume by a fresh process has the same bytes."""
    import shutil

    import yaml

    bg = tmp_path / "bg"
    bg.mkdir()
    for p in sorted((assets / "backgrounds").rglob("*.png"))[:2]:
        shutil.copy(p, bg / p.name)
    (bg / "empty.jpg").write_bytes(b"")
    cfg = tmp_path / "bg.yaml"
    cfg.write_text(yaml.safe_dump({"background": {"dirs": [str(bg)]}, "canvas": {"width": 96, "height": 96}}))
    args = ["--config", str(cfg), "--num-samples", "120", "--samples-per-shard", "30"]
    out = tmp_path / "out"
    first = subprocess.run([str(BIN / "textsynth"), "synth", "--out", str(out), *args],
                           capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    before = _shard_bytes(out)
    for i in (1, 3):                      # shards a worker rendered after meeting the bad file
        (out / "_completions" / f"synth-{i:06d}.json").unlink()
    again = subprocess.run([str(BIN / "textsynth"), "synth", "--out", str(out), *args],
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert _shard_bytes(out) == before
    assert "bad_background:corrupt_image" in json.loads((out / "stats.json").read_text())["skips"]


def test_ctrl_c_is_a_message_not_a_traceback(assets, tmp_path):
    """Issue 13.6: SIGINT ends with a one-line message and rc 130, finished shards kept
    (the other bad inputs of issue 13 are in test_bad_inputs.py)."""
    out = tmp_path / "out"
    p = subprocess.Popen([str(BIN / "textsynth"), "synth", "--out", str(out), "--num-samples", "100000",
                          "--samples-per-shard", "100"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list((out / "_completions").glob("*.json")):
        time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "interrupted" in err
    assert list((out / "_completions").glob("*.json"))


def test_a_hung_task_is_cancelled_and_reported(assets):
    """Issue 13: no wait without a timeout. A task that never returns (a pathological input
    stuck in a library call) is cancelled after task_timeout and reported as failed; the
    other tasks of the job still finish."""
    import ray

    from textsynth.ray_driver import map_unordered

    def work(item):
        while item == "hangs":
            time.sleep(1)
        return item * 2

    try:
        t0 = time.monotonic()
        got = {item: (result, error) for item, result, error in
               map_unordered(work, ["a", "hangs", "b"], max_retries=0, task_timeout=10)}
        assert got["a"] == ("aa", None) and got["b"] == ("bb", None)
        assert got["hangs"][0] is None and "TimeoutError" in got["hangs"][1]
        assert time.monotonic() - t0 < 60
    finally:
        ray.shutdown()


def test_rerun_with_other_parameters_is_refused_unless_overwrite(reference, tmp_path):
    """Issue 14.4: a smaller --num-samples left the old extra shards (verify said OK) and a
    different --seed silently rewrote every shard."""
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(reference, out)
    before = _shard_bytes(out)
    proc = _synth(out, "--seed", "4")
    assert proc.returncode == 2 and "holds the output of a different job (seed: 3 -> 4)" in proc.stderr
    assert _shard_bytes(out) == before  # untouched
    # what an older textsynth left behind: the config of a smaller rerun beside all 8 shards
    cfg = (out / "config.yaml").read_text().replace("num_samples: 48", "num_samples: 24")
    (out / "config.yaml").write_text(cfg)
    bad = subprocess.run([str(BIN / "textsynth"), "verify", str(out)], capture_output=True, text=True)
    assert bad.returncode == 1 and "4 shard(s) not in this job's plan" in bad.stdout
    small = ["--num-samples", "12", "--samples-per-shard", "6", "--seed", "3"]
    proc = subprocess.run([str(BIN / "textsynth"), "synth", "--out", str(out), *small, "--overwrite"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in (out / "shards").iterdir()) == ["synth-000000.tar", "synth-000001.tar"]
    assert sorted(p.name for p in (out / "index").iterdir()) == ["synth-000000.parquet", "synth-000001.parquet"]
    assert subprocess.run([str(BIN / "textsynth"), "verify", str(out)]).returncode == 0
