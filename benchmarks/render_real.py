"""Throughput of realistic synthesis against document synthesis, one core, one run.

Renders and encodes (PNG with fpng) ``--num`` samples of ``pipelines/configs/synth_docs.yaml``
and of ``pipelines/configs/synth_real.yaml`` in interleaved rounds (ABAB: a busy machine
slows both alike), after a warm-up that fills the glyph and shaping caches, pinned to one
CPU with one thread per library. Prints samples/s of each, the ratio (target: synth_real
>= 50% of synth_docs).

    python benchmarks/render_real.py [--num 200] [--rounds 3] [--warmup 200]
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402

from textsynth import paths  # noqa: E402
from textsynth.config import load_config  # noqa: E402
from textsynth.synthesis.generate import Stats, make_sample  # noqa: E402
from textsynth.synthesis.render import encode  # noqa: E402
from textsynth.synthesis.resources import Resources  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--num", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=200)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    cv2.setNumThreads(1)
    configs = {name: Resources(load_config(paths.packaged_config(f"{name}.yaml")))
               for name in ("synth_docs", "synth_real")}
    stats = {name: Stats() for name in configs}
    for name, res in configs.items():
        for i in range(args.warmup):
            make_sample(res, 1, 10_000_000 + i, stats[name])
    rates: dict[str, list[float]] = {name: [] for name in configs}
    for r in range(args.rounds):
        for name, res in configs.items():
            t = time.perf_counter()
            for i in range(args.num):
                encode(make_sample(res, 0, r * args.num + i, stats[name])[0], "png", png_encoder="fpng")
            rates[name].append(args.num / (time.perf_counter() - t))
    med = {name: statistics.median(v) for name, v in rates.items()}
    print(f"{args.num} samples x {args.rounds} rounds per config, one core, fpng\n")
    print("| config | samples/s (median) | rounds |\n|---|---:|---|")
    for name, v in rates.items():
        print(f"| {name} | {med[name]:.1f} | {', '.join(f'{x:.1f}' for x in v)} |")
    ratio = med["synth_real"] / med["synth_docs"]
    print(f"\nsynth_real / synth_docs = {ratio:.2f} (target >= 0.50: {'met' if ratio >= 0.5 else 'missed'})")
    print(f"skips: synth_docs {dict(stats['synth_docs'].skips)}, synth_real {dict(stats['synth_real'].skips)}")


if __name__ == "__main__":
    main()
