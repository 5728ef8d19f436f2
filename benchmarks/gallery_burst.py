"""Gallery under a burst (issue 13): many clients at once over loopback.

    python benchmarks/gallery_burst.py [--clients 32] [--seconds 30] [--think-ms 0]

1. Makes a real synth output dir once (``textsynth synth``, 600 samples in 6 shards) under
   benchmarks/_work/gallery_burst/.
2. Starts ``textsynth gallery`` on it in a subprocess, then runs a bounded load generator:
   ``--clients`` threads released together (a burst of simultaneous connects), each looping
   for ``--seconds``: open a new TCP connection, send one request from a browser-like mix
   (thumbnail images 60%, page queries 20%, sample detail 15%, stats 5%), read the whole
   answer, close, think for a random 0..2x``--think-ms`` (default 0: the next request at
   once, the harshest closed loop). Each client has at most one request
   in flight, so the load is bounded by the clients, not by how fast the server answers.
   Latency is connect + request + full body. A connection error, timeout or non-200 is an
   error.
3. Baseline in the same run: the same load against the server with the settings it had
   before issue 13 (http.server's listen backlog of 5, HTTP/1.0, no socket timeout).

Also reported: the kernel's listen-queue overflow counter (TcpExt ListenOverflows from
/proc/net/netstat, system-wide) over each run, and the server's thread count while 200
idle connections are open and after the idle timeout.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
# The pre-issue-13 settings, applied to today's server for the baseline.
BASELINE = ("from textsynth.gallery import server as s; s.GalleryServer.request_queue_size = 5; "
            "s.LISTEN_BACKLOG = 5; import http.server as h; "
            "_mk = s.make_handler\n"
            "def mk(*a, **k):\n"
            "    H = _mk(*a, **k); H.protocol_version = 'HTTP/1.0'; H.timeout = None; return H\n"
            "s.make_handler = mk\n"
            "import sys; from textsynth.cli import main; sys.exit(main(sys.argv[1:]))")


def make_data(work: Path) -> Path:
    out = work / "synth"
    if not (out / "stats.json").exists():
        subprocess.run([str(BIN / "textsynth"), "synth", "--out", str(out), "--num-samples", "600",
                        "--samples-per-shard", "100", "--seed", "5"], check=True)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data: Path, port: int, baseline: bool) -> subprocess.Popen:
    args = ["gallery", str(data), "--port", str(port), "--quiet"]
    cmd = ([sys.executable, "-c", BASELINE, *args] if baseline
           else [str(BIN / "textsynth"), *args])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/datasets", timeout=2).read()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"gallery did not start: {proc.stderr.read()[-2000:]}")


def listen_overflows() -> int:
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for head, vals in zip(lines[::2], lines[1::2]):
        if head.startswith("TcpExt:"):
            return int(dict(zip(head.split()[1:], vals.split()[1:]))["ListenOverflows"])
    return -1


def request_mix(port: int) -> list[tuple[float, str]]:
    """(weight, path) pairs built from the served dataset's real keys."""
    base = f"http://127.0.0.1:{port}"
    name = json.load(urllib.request.urlopen(f"{base}/api/datasets"))["datasets"][0]["name"]
    items = json.load(urllib.request.urlopen(f"{base}/api/query?per_page=200"))["items"]
    images = [f"/api/image?dataset={name}&shard={it['shard']}&key={it['key']}" for it in items]
    samples = [p.replace("/api/image", "/api/sample") for p in images]
    queries = ["/api/query", "/api/query?lang=zh", "/api/query?lang=en&page=2",
               "/api/query?size_bucket=5-8", "/api/query?q=the"]
    return ([(0.60 / len(images), p) for p in images] + [(0.15 / len(samples), p) for p in samples]
            + [(0.20 / len(queries), p) for p in queries] + [(0.05, f"/api/stats?dataset={name}")])


def client(port, mix, seconds, think_ms, start, out, seed):
    rng = random.Random(seed)
    weights, paths = zip(*mix)
    start.wait()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        path = rng.choices(paths, weights)[0]
        t0 = time.perf_counter()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            conn.close()
            ok = resp.status == 200
        except OSError:
            ok = False
        out.append((time.perf_counter() - t0, ok))
        time.sleep(rng.uniform(0, 2 * think_ms / 1000))


def load(port: int, clients: int, seconds: float, think_ms: float) -> dict:
    mix = request_mix(port)
    start, results = threading.Barrier(clients), [[] for _ in range(clients)]
    before = listen_overflows()
    threads = [threading.Thread(target=client, args=(port, mix, seconds, think_ms, start, results[i], i))
               for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat = np.array([r[0] for rs in results for r in rs]) * 1000
    errors = sum(not r[1] for rs in results for r in rs)
    return {"requests": int(lat.size), "req_per_s": round(lat.size / wall, 1), "errors": errors,
            "p50_ms": round(float(np.percentile(lat, 50)), 1),
            "p95_ms": round(float(np.percentile(lat, 95)), 1),
            "p99_ms": round(float(np.percentile(lat, 99)), 1),
            "max_ms": round(float(lat.max()), 1), "listen_overflows": listen_overflows() - before}


def threads_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return -1


def idle_check(data: Path, idle_timeout: float = 3.0, n: int = 200) -> dict:
    port = free_port()
    proc = subprocess.Popen([str(BIN / "textsynth"), "gallery", str(data), "--port", str(port), "--quiet",
                             "--idle-timeout", str(idle_timeout)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/datasets", timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        base = threads_of(proc.pid)
        socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
        time.sleep(1)
        held = threads_of(proc.pid)
        time.sleep(idle_timeout + 2)
        after = threads_of(proc.pid)
        for s in socks:
            s.close()
        return {"idle_connections": n, "threads_before": base, "threads_while_idle": held,
                "threads_after_timeout": after, "idle_timeout_s": idle_timeout}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--think-ms", type=float, default=0)
    ap.add_argument("--work", type=Path, default=ROOT / "_work" / "gallery_burst")
    args = ap.parse_args()
    data = make_data(args.work)
    report = {"clients": args.clients, "seconds": args.seconds, "think_ms": args.think_ms}
    for label, baseline in (("baseline (backlog 5, HTTP/1.0)", True), ("gallery", False)):
        port = free_port()
        proc = start_server(data, port, baseline)
        try:
            report[label] = load(port, args.clients, args.seconds, args.think_ms)
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=30)
        report[label]["server_tracebacks"] = err.count("Traceback")
        print(label, report[label], flush=True)
    report["idle"] = idle_check(data)
    print("idle", report["idle"])
    (args.work / "report.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    main()
