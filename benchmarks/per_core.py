"""Per-core efficiency of the production path, measured in one run on one core.

    python benchmarks/per_core.py [--num 4000] [--shard 500]

Four rates, samples/s, default config (256x256) with ``output.png_encoder: fpng``:

- in-memory: the renderer's loop, ``make_sample`` + encode, nothing kept (the ceiling);
- shard in memory: ``render_shard``, i.e. the loop plus the tar, JSON and parquet index;
- synth job: ``textsynth synth --num-cpus 1`` to local disk, through Ray, in steady state:
  samples after the first shard over the time between the first and the last completion
  marker (the first shard carries the worker's start-up and cold caches, like the warm-up
  the in-memory loops get);
- ``textsynth render`` (its default encoder, and zlib) against a naive Pillow script writing
  the same PNG + JSON files (``benchmarks/render.py``'s afternoon loop).

Targets: the synth job at >= 85% of the in-memory rate; ``textsynth render`` >= 2x the
naive script. In-process loops are pinned to the first CPU; the job's one worker gets one
CPU from Ray while the driver and Ray's own processes share the rest, as in production.
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from cluster_scaling import steady_rate  # noqa: E402  (benchmarks/cluster_scaling.py)
from render import _pin, measure_naive_pillow  # noqa: E402  (benchmarks/render.py)

from textsynth.config import load_config  # noqa: E402
from textsynth.shards import ShardSpec, render_shard  # noqa: E402
from textsynth.synthesis.generate import Stats, make_sample  # noqa: E402
from textsynth.synthesis.render import encode_output  # noqa: E402
from textsynth.synthesis.resources import Resources  # noqa: E402

BIN = Path(sys.executable).parent
FPNG = {"output": {"png_encoder": "fpng"}}


def in_memory(num: int, warmup: int, shard: int) -> dict:
    res = Resources(load_config(None, **FPNG))
    out, stats = res.cfg["output"], Stats()
    for i in range(warmup):
        make_sample(res, 1, i, stats)
    t = time.perf_counter()
    for i in range(num):
        encode_output(make_sample(res, 0, i, stats)[0], out)
    loop = num / (time.perf_counter() - t)
    t = time.perf_counter()
    for k in range(num // shard):
        render_shard(res, ShardSpec(job="synth", index=k, seed=0, count=shard, first=k * shard))
    return {"in_memory": loop, "shard_in_memory": num // shard * shard / (time.perf_counter() - t)}


def synth_job(num: int, shard: int, work: Path) -> dict:
    out = work / "job"
    t = time.perf_counter()
    proc = subprocess.run([str(BIN / "textsynth"), "synth", "--out", str(out), "--num-samples", str(num),
                           "--samples-per-shard", str(shard), "--num-cpus", "1", "--quiet",
                           "--set", "output.png_encoder=fpng"], capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    rate = steady_rate(out)   # one node: the samples after its first shard
    return {"synth_job_steady": rate["steady"], "synth_job_stats": rate["job"],
            "synth_job_wall": json.loads((out / "stats.json").read_text())["samples"] / wall}


def render_cmd(num: int, work: Path, encoder: str | None) -> float:
    out = work / f"render-{encoder or 'default'}"
    sets = ["--set", f"output.png_encoder={encoder}"] if encoder else []
    cpu = str(sorted(os.sched_getaffinity(0))[0])
    subprocess.run(["taskset", "-c", cpu, str(BIN / "textsynth"), "render", "--num", str(num),
                    "--out", str(out), *sets], check=True, capture_output=True)
    return json.loads((out / "stats.json").read_text())["samples_per_s"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--num", type=int, default=4000, help="samples per measurement")
    p.add_argument("--shard", type=int, default=500, help="samples per shard (job and in-memory shards)")
    p.add_argument("--warmup", type=int, default=1000)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        r = synth_job(args.num, args.shard, work)      # first: Ray picks its own CPU
        _pin()
        r.update(in_memory(args.num, args.warmup, args.shard))
        r["render_default"] = render_cmd(args.num, work, None)
        r["render_zlib"] = render_cmd(args.num, work, "zlib")
        r["naive_pillow_files"] = measure_naive_pillow(args.num, out=work / "naive")
    print("| samples/s, one core | |\n|---|---:|")
    for k, v in r.items():
        print(f"| {k} | {v:.1f} |")
    job = r["synth_job_steady"] / r["in_memory"]
    shard = r["shard_in_memory"] / r["in_memory"]
    render = r["render_default"] / r["naive_pillow_files"]
    print("\n| target | value | met |\n|---|---|---|")
    print(f"| (shard in memory / in-memory loop) | {shard:.2f} | |")
    print(f"| synth job (steady) >= 0.85x the in-memory loop | {job:.2f} | {job >= 0.85} |")
    print(f"| textsynth render >= 2x a naive Pillow script writing PNG + JSON | {render:.2f}x | {render >= 2} |")
    print(f"| (textsynth render with zlib vs the naive script) | "
          f"{r['render_zlib'] / r['naive_pillow_files']:.2f}x | |")
    print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
