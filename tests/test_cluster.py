"""A two-node Ray cluster on this machine (``ray start --head`` plus ``ray start --address``,
each a real raylet with its own CPU), writing to the real S3-compatible server: jobs spread
over both nodes, and losing a node mid-job leaves the same bytes as an undisturbed run."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from test_object_store import files, objects, results

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
JOB = ["--num-samples", "96", "--samples-per-shard", "4", "--seed", "7", "--quiet"]
SHARDS = 24


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _agent_ports() -> list[str]:
    """Each node's agents on free ports: their defaults (52365 and friends) collide between two
    nodes on one machine, and with any other Ray running here."""
    return [f"--{flag}={_free_port()}" for flag in ("dashboard-agent-listen-port", "dashboard-agent-grpc-port",
                                                    "runtime-env-agent-port", "metrics-export-port")]


def _start(args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "ray"), "start", "--block", "--disable-usage-stats", *args],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _nodes(address: str, env: dict) -> int:
    code = "import ray; ray.init(address='%s', log_to_driver=False); print(sum(n['Alive'] for n in ray.nodes()))"
    r = subprocess.run([sys.executable, "-c", code % address], env=env, capture_output=True, text=True, timeout=120)
    return int(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 else 0


@pytest.fixture
def cluster(s3, assets):
    """A head (1 CPU, dashboard and job API) and a worker node (1 CPU). The object-store keys
    are in both nodes' environment, as on a real cluster (never in a job's runtime_env, which
    the dashboard shows)."""
    tmp = Path(tempfile.mkdtemp(prefix="rc-", dir="/tmp"))   # short: Ray's socket paths are limited
    port, dash = _free_port(), _free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PATH": f"{BIN}:{os.environ['PATH']}",
           # the head notices a silent node in ~2 s, not ~30 (Ray's system config, by env)
           "RAY_health_check_period_ms": "500", "RAY_health_check_failure_threshold": "3",
           "RAY_health_check_initial_delay_ms": "0"}
    head = _start(["--head", f"--port={port}", "--num-cpus=1", f"--dashboard-port={dash}",
                   "--dashboard-host=127.0.0.1", "--include-dashboard=true", *_agent_ports(),
                   f"--temp-dir={tmp}"], env)
    address = f"127.0.0.1:{port}"
    worker = None
    try:
        deadline = time.monotonic() + 180
        while _nodes(address, env) < 1:
            assert time.monotonic() < deadline, "the head node did not start"
            time.sleep(2)
        worker = _start([f"--address={address}", "--num-cpus=1", *_agent_ports()], env)
        while _nodes(address, env) < 2:
            assert time.monotonic() < deadline, "the worker node did not join"
            time.sleep(2)
        yield {"address": address, "dashboard": f"http://127.0.0.1:{dash}", "env": env, "worker": worker}
    finally:
        for p in (worker, head):
            if p is not None:
                _stop(p)
        subprocess.run(["pkill", "-9", "-f", str(tmp)])   # anything left of this cluster only


@pytest.fixture(scope="module")
def reference(assets, tmp_path_factory):
    """The same job, undisturbed, on local disk with an embedded Ray."""
    out = tmp_path_factory.mktemp("ref") / "out"
    r = subprocess.run([str(BIN / "textsynth"), "synth", "--out", str(out), *JOB], capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    return out


def test_job_submit_spreads_over_two_nodes_and_writes_to_s3(s3, cluster, reference):
    uri = s3.uri("cluster-synth")
    submit = None
    deadline = time.monotonic() + 300   # the job API's agent takes a while on a busy machine
    while True:
        submit = subprocess.run(
            [str(BIN / "ray"), "job", "submit", "--address", cluster["dashboard"], "--working-dir", str(REPO),
             "--", "python", "pipelines/synth.py", "--out", uri, *JOB],
            env=cluster["env"], capture_output=True, text=True, timeout=900)
        said = submit.stderr + submit.stdout
        not_up = ("Jobs API", "Connection", "No available agent", "try again later")
        if submit.returncode == 0 or not any(s in said for s in not_up) or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert submit.returncode == 0, (submit.stdout[-2000:], submit.stderr[-2000:])
    made = objects(s3, "cluster-synth")
    assert results(made) == results(files(reference))
    nodes = json.loads(made["stats.json"])["nodes"]
    assert len(nodes) == 2, nodes                      # both nodes made shards
    assert sorted(i for v in nodes.values() for i in v) == list(range(SHARDS))


def test_losing_a_node_mid_job_gives_the_same_bytes(s3, cluster, reference):
    uri, fs = s3.uri("node-loss"), s3.filesystem()
    proc = subprocess.Popen([str(BIN / "textsynth"), "synth", "--address", cluster["address"], "--out", uri, *JOB],
                            env=cluster["env"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    import pyarrow.fs as pafs

    raylet = next(p for p in psutil.Process(cluster["worker"].pid).children(recursive=True) if p.name() == "raylet")
    deadline = time.time() + 600
    while len(fs.get_file_info(pafs.FileSelector(f"{s3.bucket}/node-loss/_completions", allow_not_found=True))) < 3:
        assert time.time() < deadline and proc.poll() is None, "the job ended before a node could be lost"
        time.sleep(0.2)
    raylet.kill()                                      # the worker node's raylet, by its pid
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-3000:]
    made = objects(s3, "node-loss")
    assert results(made) == results(files(reference))  # byte-identical to the undisturbed run
    stats = json.loads(made["stats.json"])
    (lost,) = stats["lost_nodes"]
    assert "left the cluster" in err and lost["lost_node"] in err
    # The shards it was running, from Ray's task list, are named in the log. (Not asserted
    # non-empty: a worker killed before its first task was leased ran nothing.)
    assert all(f"synth-{i:06d}" in err for i in lost["retried"])
    assert stats["shards_done"] == SHARDS and not stats["shards_failed"]
    survivors = [n for n in stats["nodes"] if n != lost["lost_node"]]
    assert survivors and all(i in stats["nodes"][survivors[0]] for i in lost["retried"])
