"""Synthesis on two nodes against one node with the same total CPUs, in one run.

    python benchmarks/cluster_scaling.py [--num 6000] [--shard 250] [--rounds 2]

Each round starts, on this machine, a one-node cluster with 2 CPUs and a two-node cluster
with 1 CPU per node (``textsynth.raylocal.LocalCluster``: real raylets), and runs the same
``textsynth synth --address`` job on each (fpng PNG, local disk, a fresh output). The rate is
the steady one: samples after the first shard of each node over the time from the first to
the last completion marker, so Ray and worker start-up are left out on both sides. Rounds
alternate the order. Target: the two-node rate within 10% of the one-node rate.

On one host the two-node cluster also runs a second raylet and its agents on the same
cores, so this measures Ray's per-node overhead and the spreading of tasks, not the network.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from textsynth.raylocal import LocalCluster

BIN = Path(sys.executable).parent


def steady_rate(out: Path) -> dict:
    stats = json.loads((out / "stats.json").read_text())
    marks = sorted(p.stat().st_mtime for p in (out / "_completions").glob("*.json"))
    per_shard = stats["samples"] / len(marks)
    first = len(stats["nodes"])            # each node's first shard carries its warm-up
    return {"steady": (stats["samples"] - first * per_shard) / (marks[-1] - marks[first - 1]),
            "job": stats["timing"]["samples_per_s"], "nodes": len(stats["nodes"])}


def run_job(cluster: LocalCluster, out: Path, num: int, shard: int) -> dict:
    subprocess.run([str(BIN / "textsynth"), "synth", "--address", cluster.address, "--out", str(out),
                    "--num-samples", str(num), "--samples-per-shard", str(shard), "--quiet",
                    "--set", "output.png_encoder=fpng"], env=cluster.env, check=True,
                   capture_output=True)
    return steady_rate(out)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--num", type=int, default=6000, help="samples per job")
    p.add_argument("--shard", type=int, default=250, help="samples per shard")
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    layouts = {"one node, 2 CPUs": [2], "two nodes, 1 CPU each": [1, 1]}
    rates: dict[str, list[dict]] = {k: [] for k in layouts}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = list(layouts) if r % 2 == 0 else list(reversed(layouts))
            for name in order:
                with LocalCluster(layouts[name]) as c:
                    got = run_job(c, Path(tmp) / f"{r}-{len(layouts[name])}", args.num, args.shard)
                rates[name].append(got)
                print(f"round {r + 1}: {name}: {got['steady']:.1f} samples/s steady "
                      f"({got['job']:.1f} for the whole job; shards made on {got['nodes']} node(s))",
                      file=sys.stderr)
    print("| layout | steady samples/s per round | median | whole job, median |\n|---|---|---:|---:|")
    med = {}
    for name, rs in rates.items():
        med[name] = statistics.median(x["steady"] for x in rs)
        each = ", ".join(f"{x['steady']:.1f}" for x in rs)
        print(f"| {name} | {each} | {med[name]:.1f} | "
              f"{statistics.median(x['job'] for x in rs):.1f} |")
    ratio = med["two nodes, 1 CPU each"] / med["one node, 2 CPUs"]
    print(f"\n| target | value | met |\n|---|---|---|\n| two nodes within 10% of one node | {ratio:.2f}x | "
          f"{ratio >= 0.9} |")
    print(json.dumps({"rates": rates, "ratio": ratio}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
