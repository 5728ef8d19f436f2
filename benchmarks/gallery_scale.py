"""Gallery at scale (issue 5): filtered page queries over a 1,000,000-row index.

    python benchmarks/gallery_scale.py [--rows 1000000] [--per-shard 1000] [--work DIR]

1. Renders 400 real samples with the default config (ci assets) and writes an index of
   --rows rows (metadata only, no tars) as --rows/--per-shard shard parquet files whose rows
   are those samples' metadata under new keys, with a doc-like score column on half of them.
2. Starts `textsynth gallery` on it in a subprocess and times the HTTP queries the app sends
   (median and p95 of 15 runs each, JSON included), reading the server's resident memory
   (VmRSS now, VmHWM peak) from /proc.
3. Baseline in the same run: the same filtered page answered by scanning the parquet files
   with pyarrow.dataset per query (what a server without an in-memory catalog would do).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

QUERIES = {
    "first page, no filter": "",
    "lang=zh": "lang=zh",
    "lang=en + size 5-8": "lang=en&size_bucket=5-8",
    "one font": "font={font}",
    "score range": "score_ocr_chars=300:500",
    "text search": "q={word}",
    "lang=zh, page 500": "lang=zh&page=500",
}


def make_index(out: Path, rows: int, per_shard: int) -> dict:
    from textsynth.config import load_config
    from textsynth.synthesis.generate import Stats, make_sample
    from textsynth.synthesis.recipe import Skip
    from textsynth.synthesis.resources import Resources
    from textsynth.shards import index_row

    res = Resources(load_config(None, seed=7))
    metas, i = [], 0
    while len(metas) < 400:
        try:
            metas.append(make_sample(res, 7, i, Stats())[1])
        except Skip:
            pass
        i += 1
    base = [index_row("k", m, "k.png", 512, 1000) for m in metas]
    (out / "shards").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for s in range(rows // per_shard):
        name = f"synth-{s:06d}"
        recs = []
        for j, b in enumerate(rng.integers(0, len(base), per_shard)):
            r = dict(base[b])
            r["key"] = f"{name}-{j:06d}"
            r["image"] = f"{r['key']}.png"
            r["score_ocr_chars"] = float(rng.integers(100, 800)) if j % 2 else None
            recs.append(r)
        pq.write_table(pa.Table.from_pylist(recs), out / "shards" / f"{name}.parquet", compression="zstd")
    text = [m["text"] for m in metas]
    return {"avg_text_bytes": float(np.mean([len(t.encode()) for t in text])),
            "font": base[0]["fonts"][0], "word": metas[0]["text"].split()[0][:4]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mem_mb(pid: int) -> dict:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return {k: int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM")}


def timed(url: str, n: int = 15) -> tuple[float, float, dict]:
    times, body = [], None
    for _ in range(n):
        t0 = time.perf_counter()
        with urllib.request.urlopen(url) as r:
            body = json.loads(r.read())
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.95 * (n - 1))], body


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--per-shard", type=int, default=1000)
    ap.add_argument("--work", default="benchmarks/_work/gallery")
    args = ap.parse_args()
    out = Path(args.work) / f"index-{args.rows}"
    info_file = out / "info.json"
    if not info_file.exists():
        t0 = time.perf_counter()
        info = make_index(out, args.rows, args.per_shard)
        info_file.write_text(json.dumps(info))
        print(f"generated {args.rows:,} rows in {time.perf_counter() - t0:.0f} s")
    info = json.loads(info_file.read_text())
    size = sum(p.stat().st_size for p in (out / "shards").glob("*.parquet"))
    print(f"index: {args.rows:,} rows in {args.rows // args.per_shard} parquet files, "
          f"{size / 1e6:.0f} MB on disk, mean text {info['avg_text_bytes']:.0f} bytes/row")

    port = free_port()
    exe = Path(sys.executable).parent / "textsynth"
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(exe), "gallery", str(out), "--port", str(port), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in proc.stdout:
            if "open http" in line:
                break
        load_s = time.perf_counter() - t0
        base = f"http://127.0.0.1:{port}"
        print(f"server ready in {load_s:.1f} s; memory after load: {mem_mb(proc.pid)}")
        print("\n| query | total rows | median ms | p95 ms |\n|---|---:|---:|---:|")
        for name, q in QUERIES.items():
            q = q.format(font=urllib.request.quote(info["font"]), word=urllib.request.quote(info["word"]))
            med, p95, body = timed(f"{base}/api/query?{q}")
            print(f"| {name} (`{q or '-'}`) | {body['total']:,} | {med:.0f} | {p95:.0f} |")
        mem = mem_mb(proc.pid)
        print(f"\nserver memory: {mem['VmRSS']:.0f} MB resident now, {mem['VmHWM']:.0f} MB peak")
    finally:
        proc.terminate()
        proc.wait()

    import pyarrow.dataset as pads

    t0 = time.perf_counter()
    ds = pads.dataset(str(out / "shards"), format="parquet")
    tbl = ds.to_table(columns=["key", "lang", "size_bucket", "text"],
                      filter=(pads.field("lang") == "en") & (pads.field("size_bucket") == "5-8"))
    _ = tbl.slice(0, 60).to_pylist()
    scan_ms = (time.perf_counter() - t0) * 1000
    print(f"baseline, scanning the parquet files per query (lang=en + size 5-8, rows only, no "
          f"facet counts): {scan_ms:.0f} ms")


if __name__ == "__main__":
    main()
