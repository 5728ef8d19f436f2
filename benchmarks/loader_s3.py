"""Trainer loader throughput with its shards on an object store against local disk, measured
in the same run (issue: streaming training input). Prints a Markdown table for BENCHMARKS.md.

    python benchmarks/loader_s3.py --synth out/demo/synth [--rounds 3] [--seconds 10]

Starts a real S3-compatible server on 127.0.0.1 (SeaweedFS, ``textsynth.s3local``), uploads
the shards of ``--synth`` (a synth or curate output), and times the trainer's real pipeline
(textsynth.vae.data: tar read, shuffle buffer, decode, crop, batch; one loader process) on
the local copy and on ``s3://`` in interleaved rounds. The target is s3/local >= 0.8.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

from vae_loader import loader_rate  # noqa: E402

from textsynth.s3local import S3Local  # noqa: E402


def upload(s3: S3Local, local: Path, prefix: str) -> int:
    fs, n = s3.filesystem(), 0
    for p in sorted(local.rglob("*")):
        if p.is_file():
            with fs.open_output_stream(f"{s3.bucket}/{prefix}/{p.relative_to(local)}") as f:
                n += f.write(p.read_bytes())
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--synth", required=True, help="a synth (or curate) output dir")
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="s3bench-") as tmp, S3Local(tmp) as s3:
        os.environ.update(s3.env)
        size = upload(s3, Path(args.synth), "synth")
        where = {"local": str(Path(args.synth).resolve()), "s3": s3.uri("synth")}
        rates: dict[str, list[float]] = {k: [] for k in where}
        for _ in range(args.rounds):
            for k, path in where.items():
                rates[k].append(loader_rate({"synth": {"paths": [path]}}, {"synth": 1.0},
                                            args.resolution, args.batch, args.seconds))
    local, remote = statistics.median(rates["local"]), statistics.median(rates["s3"])
    print(f"{size / 1e6:.1f} MB of shards; {args.rounds} interleaved rounds of {args.seconds:g} s, "
          f"{args.resolution} px crops, batch {args.batch}, one loader process\n")
    print("| shards on | samples/s (median) | rounds | ratio |")
    print("|---|---:|---|---:|")
    print(f"| local disk | {local:.1f} | {', '.join(f'{r:.1f}' for r in rates['local'])} | 1.00 |")
    print(f"| S3 (SeaweedFS, 127.0.0.1) | {remote:.1f} | {', '.join(f'{r:.1f}' for r in rates['s3'])} | "
          f"**{remote / local:.2f}** |")


if __name__ == "__main__":
    main()
