"""A two-node Ray cluster on this machine (``ray start --head`` plus ``ray start --address``,
each a real raylet with its own CPU), writing to the real S3-compatible server: synth and
curate jobs submitted with ``ray job submit`` spread over both nodes, the trainer's two Ray
Train workers (one per node, gloo) read their own shards from the store and survive losing
one, and losing a node mid-job leaves the same bytes as an undisturbed run.

One cluster serves the module; the node-loss test, which kills its worker node, runs last."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from test_object_store import _upload, files, objects, results

from textsynth.raylocal import LocalCluster

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
JOB = ["--num-samples", "96", "--samples-per-shard", "4", "--seed", "7", "--quiet"]
SHARDS = 24


@pytest.fixture(scope="module")
def cluster(s3, assets):
    """A head (1 CPU, dashboard and job API) and a worker node (1 CPU). The object-store keys
    are in both nodes' environment, as on a real cluster (never in a job's runtime_env, which
    the dashboard shows); the head notices a silent node in ~2 s, not ~30 (Ray's system
    config, by env)."""
    fast = {"RAY_health_check_period_ms": "500", "RAY_health_check_failure_threshold": "3",
            "RAY_health_check_initial_delay_ms": "0"}
    with LocalCluster([1, 1], env=fast) as c:
        yield {"address": c.address, "dashboard": c.dashboard, "env": c.env, "worker": c.nodes[1]}


@pytest.fixture(scope="module")
def reference(assets, tmp_path_factory):
    """The same job, undisturbed, on local disk with an embedded Ray."""
    out = tmp_path_factory.mktemp("ref") / "out"
    r = subprocess.run([str(BIN / "textsynth"), "synth", "--out", str(out), *JOB], capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    return out


def _submit(cluster, *entrypoint: str) -> None:
    """``ray job submit --working-dir REPO -- python ...``, the README's way, until it ends."""
    deadline = time.monotonic() + 300   # the job API's agent takes a while on a busy machine
    while True:
        submit = subprocess.run(
            [str(BIN / "ray"), "job", "submit", "--address", cluster["dashboard"], "--working-dir", str(REPO),
             "--", "python", *entrypoint],
            env=cluster["env"], capture_output=True, text=True, timeout=900)
        said = submit.stderr + submit.stdout
        not_up = ("Jobs API", "Connection", "No available agent", "try again later")
        if submit.returncode == 0 or not any(s in said for s in not_up) or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert submit.returncode == 0, (submit.stdout[-2000:], submit.stderr[-2000:])


def test_job_submit_spreads_over_two_nodes_and_writes_to_s3(s3, cluster, reference):
    uri = s3.uri("cluster-synth")
    _submit(cluster, "pipelines/synth.py", "--out", uri, *JOB)
    made = objects(s3, "cluster-synth")
    assert results(made) == results(files(reference))
    nodes = json.loads(made["stats.json"])["nodes"]
    assert len(nodes) == 2, nodes                      # both nodes made shards
    assert sorted(i for v in nodes.values() for i in v) == list(range(SHARDS))


def test_curate_job_submit_on_two_nodes_reads_and_writes_s3(s3, cluster, web_inputs):
    _upload(s3, web_inputs, "cluster-web")
    cfg = str(web_inputs / "curate.yaml")
    inputs = [s3.uri("cluster-web/news/part-{000..000}.tar"), s3.uri("cluster-web/tables")]
    # the same job with an embedded one-node Ray, then submitted to the cluster
    alone = subprocess.run([str(BIN / "textsynth"), "curate", "--quiet", "--config", cfg,
                            "--out", s3.uri("cur-alone"), "--input", *inputs],
                           capture_output=True, text=True, timeout=900)
    assert alone.returncode == 0, alone.stderr[-3000:]
    _submit(cluster, "pipelines/curate.py", "--quiet", "--config", cfg, "--out", s3.uri("cur-cluster"),
            "--input", *inputs)
    made = objects(s3, "cur-cluster")
    assert any(k.startswith("shards/") for k in made)
    assert results(made) == results(objects(s3, "cur-alone"))
    nodes = json.loads(made["stats.json"])["nodes"]
    assert sorted(i for v in nodes.values() for i in v) == list(range(json.loads(made["stats.json"])["partitions"]))


def _train_config(tmp: Path, source: str, steps: int) -> Path:
    import yaml

    cfg = {"seed": 0, "model": {"name": "tiny"}, "loss": {"lpips": {"weight": 0.0}, "align": {"weight": 0.0}},
           "data": {"resolution": 32, "batch_size": 4, "num_workers": 0, "shuffle_buffer": 20,
                    "sources": {"synth": {"paths": [source]}},
                    "stages": [{"name": "all", "start": 0, "mix": {"synth": 1.0}}]},
           "train": {"max_steps": steps, "lr": 3e-3, "min_lr": 3e-4, "warmup_steps": 5, "log_every": 1,
                     "sample_every": 0, "ckpt_every": 10, "cpu_threads": 1}}
    path = tmp / "train.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _losses(run: Path) -> list[float]:
    import csv

    return [float(r["loss"]) for r in csv.DictReader((run / "log.csv").open())]


def test_ray_train_on_two_nodes_reads_s3_and_survives_a_lost_worker(s3, cluster, tmp_path):
    from test_vae import _make_synth

    _upload(s3, _make_synth(tmp_path / "synth", 4, 8), "train-shards")   # 4 shards: 2 per rank
    cfg, steps = _train_config(tmp_path, s3.uri("train-shards"), 120), 120
    train = [str(BIN / "textsynth"), "train", "--config", str(cfg), "--workers", "2",
             "--address", cluster["address"], "--quiet"]
    calm = subprocess.run([*train, "--out", str(tmp_path / "calm")], env=cluster["env"],
                          capture_output=True, text=True, timeout=900)
    assert calm.returncode == 0, calm.stderr[-3000:]

    run = tmp_path / "hit"
    proc = subprocess.Popen([*train, "--out", str(run)], env=cluster["env"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.time() + 600
    while not (run / "checkpoints" / "last.pt").exists():   # a checkpoint to come back to
        assert time.time() < deadline and proc.poll() is None, "training ended before a checkpoint"
        time.sleep(0.05)
    node_procs = psutil.Process(cluster["worker"].pid).children(recursive=True)
    victims = [p for p in node_procs if "RayTrainWorker" in " ".join(p.cmdline())]
    assert victims, [p.cmdline() for p in node_procs]
    for p in victims:
        p.kill()                                      # the training worker on the second node
    said, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, said[-3000:]

    ranks = [json.loads((run / "ranks" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["step"] for r in ranks] == [steps, steps]
    assert 0 < ranks[0]["start"] < steps               # the restarted workers resumed mid-run
    assert "a worker was lost" in (run / "train.log").read_text()
    assert ranks[0]["node"] != ranks[1]["node"]        # one worker per node
    # each rank read its own shards, straight from the store
    mine = [set(r["inputs"]["synth"]) for r in ranks]
    assert not mine[0] & mine[1] and len(mine[0] | mine[1]) == 4
    assert all(u.startswith("s3://") and s3.env["AWS_SECRET_ACCESS_KEY"] not in u for u in mine[0] | mine[1])
    # resumed from the checkpoint, training went on as if nothing had happened
    assert _losses(run) == pytest.approx(_losses(tmp_path / "calm"), rel=1e-5)
    assert ranks[0]["param_checksum"] == pytest.approx(
        json.loads((tmp_path / "calm" / "ranks" / "rank0.json").read_text())["param_checksum"], rel=1e-6)


def _wait_for_a_dead_node(dashboard: str, deadline: float) -> None:
    from ray.util.state import list_nodes

    while not any(n.state == "DEAD" for n in list_nodes(address=dashboard, raise_on_missing_output=False)):
        assert time.time() < deadline, "the head never marked the killed node dead"
        time.sleep(0.2)


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
    # The rest of the job takes about as long as the head needs to notice a silent node, so
    # the driver is held (SIGSTOP) from the kill until the cluster has marked the node dead:
    # the loss then always falls mid-job, as the test means it to.
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        raylet.kill()                                  # the worker node's raylet, by its pid
        _wait_for_a_dead_node(cluster["dashboard"], deadline)
    finally:
        os.kill(proc.pid, signal.SIGCONT)
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
