"""Requests and bytes a synth job sends to an object store, counted by a real S3 server, and
what they become at 10^9 samples.

    python benchmarks/object_store_requests.py [--shard-sizes 100,1000] [--rate 11574] [--limit 3500]

For each shard size, ``textsynth synth`` jobs of 2 and of 6 shards write to SeaweedFS on
127.0.0.1 (``textsynth.s3local``); the server's own request counters (Prometheus, by HTTP
method) are read before and after each job, after its rerun (the resume scan: every marker
read and each shard's checksums verified) and after one pass of the trainer's reader over
its shards. The difference between the two jobs is what one more shard costs; the
projection to 10^9 samples scales it: requests/s = rate / shard size x requests per shard.

``--rate`` is the cluster's samples/s (default: 10^9 samples in 24 hours); ``--limit`` the
object store's request limit (default 3,500 PUT/COPY/POST/DELETE per second per prefix,
Amazon S3's documented per-prefix rate, "Best practices design patterns: optimizing Amazon
S3 performance"). A job writes all its shards under one prefix, so the limit applies whole.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import urllib.request
from collections import Counter
from pathlib import Path

import pyarrow.fs as pafs

from textsynth.s3local import S3Local
from textsynth.shardio import shard_uris, tar_samples

BIN = Path(sys.executable).parent
WRITES = ("PUT", "POST", "DELETE")


def counters(s3: S3Local) -> Counter:
    text = urllib.request.urlopen(f"http://127.0.0.1:{s3.ports['metricsPort']}/metrics").read().decode()
    out: Counter = Counter()
    for m in re.finditer(r'^SeaweedFS_s3_request_total\{([^}]*)\} (\S+)$', text, re.M):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if labels.get("bucket") == s3.bucket:
            out[labels["type"]] += int(float(m.group(2)))
    return out


def synth(uri: str, samples: int, shard: int, env: dict) -> None:
    subprocess.run([str(BIN / "textsynth"), "synth", "--out", uri, "--num-samples", str(samples),
                    "--samples-per-shard", str(shard), "--num-cpus", "2", "--quiet"],
                   env=env, check=True, capture_output=True)


def job(s3: S3Local, name: str, shards: int, shard: int, env: dict) -> dict:
    """Counters over one synth job of ``shards`` shards, its rerun and one read pass."""
    uri = s3.uri(name)
    c0 = counters(s3)
    synth(uri, shards * shard, shard, env)
    c1 = counters(s3)
    synth(uri, shards * shard, shard, env)           # a rerun: the resume scan, nothing to do
    c2 = counters(s3)
    for t in shard_uris(s3.uri(f"{name}/shards")):
        for _ in tar_samples(t):
            pass
    c3 = counters(s3)
    infos = s3.filesystem().get_file_info(pafs.FileSelector(f"{s3.bucket}/{name}", recursive=True))
    return {"write": c1 - c0, "resume_scan": c2 - c1, "read_pass": c3 - c2,
            "bytes": sum(i.size for i in infos if i.type == pafs.FileType.File)}


def measure(s3: S3Local, shard: int, env: dict, few: int = 2, many: int = 6) -> dict:
    """Per shard, the difference between a job of ``many`` shards and one of ``few``: what each
    further shard costs, without the job's own files (config, stats, manifest, folders)."""
    a, b = job(s3, f"few-{shard}", few, shard, env), job(s3, f"many-{shard}", many, shard, env)
    per = lambda k: {m: (b[k][m] - a[k][m]) / (many - few) for m in sorted(b[k]) if b[k][m] - a[k][m]}  # noqa: E731
    return {"shard": shard, "write": per("write"), "resume_scan": per("resume_scan"),
            "read_pass": per("read_pass"), "job_fixed_writes": {m: a["write"][m] - few * per("write").get(m, 0)
                                                                 for m in WRITES if a["write"][m]},
            "kib_per_sample": (b["bytes"] - a["bytes"]) / ((many - few) * shard) / 1024}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shard-sizes", default="100,1000", help="samples per shard, comma-separated")
    p.add_argument("--rate", type=float, default=1e9 / 86400, help="cluster samples/s for the projection")
    p.add_argument("--limit", type=float, default=3500, help="write requests/s the store allows per prefix")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp, S3Local(Path(tmp) / "s3") as s3:
        os.environ.update(s3.env)    # the jobs and this process's reads use the server's keys
        rows = [measure(s3, int(s), dict(os.environ)) for s in args.shard_sizes.split(",")]
    print("| samples per shard | each further shard: requests to write | to scan on resume | "
          "to read once (trainer) | KiB per sample |\n|---:|---|---|---|---:|")
    fmt = lambda d: ", ".join(f"{k} {v:g}" for k, v in d.items()) or "none"  # noqa: E731
    for r in rows:
        print(f"| {r['shard']} | {fmt(r['write'])} | {fmt(r['resume_scan'])} | {fmt(r['read_pass'])} | "
              f"{r['kib_per_sample']:.1f} |")
    print(f"\nonce per job (config, stats, manifest, folders): {fmt(rows[0]['job_fixed_writes'])}")
    # Writes per shard depend on the shard size only through the tar's multipart parts (one
    # per 10 MiB): project from the largest measured size, adding or removing parts; reads
    # scale with the bytes.
    big = rows[-1]
    kib, big_mib = big["kib_per_sample"], big["shard"] * big["kib_per_sample"] / 1024
    w_big = sum(v for k, v in big["write"].items() if k in WRITES)
    scan = sum(big["resume_scan"].values())   # per shard: its marker and files, whatever their size
    print(f"\nProjection to 10^9 samples at {args.rate:,.0f} samples/s, {kib:.1f} KiB per sample "
          f"({1e9 * kib * 1024 / 1e12:.1f} TB in all), against {args.limit:,.0f} writes/s:\n")
    print("| samples per shard | shard MiB | writes per shard | writes/s | share of the limit | "
          "objects | GETs, one training epoch | GETs, one resume scan |\n|---:|---:|---:|---:|---:|---:|---:|---:|")
    for shard in (100, 1000, 5000, 10000):
        mib = shard * kib / 1024
        writes = w_big + math.ceil(mib / 10) - math.ceil(big_mib / 10)
        per_s, n = args.rate / shard * writes, 1e9 / shard
        print(f"| {shard:,} | {mib:,.0f} | {writes:g} | {per_s:,.0f} | {per_s / args.limit:.0%} | "
              # the trainer's reader: one request to open, one per 8 MiB read ahead (as measured)
              f"{3 * n:,.0f} | {n * (1 + math.ceil(mib / 8)):,.0f} | {n * scan:,.0f} |")
    print("\n(A resume scan also reads every byte once, to check each shard against the checksums "
          "in its marker.)")
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
