"""Bench reconstruction cost (issue 26): one image at a time against batched.

    python benchmarks/reconstruct.py CHECKPOINT BENCH [--batch 8] [--images 64] [--rounds 3]

An experiment reconstructs every bench image with every arm's model; on this 2-core machine
that was 4.5 minutes per run at 300 steps. The same model and the same images go through
``Reconstructor.many`` with batch 1 (NCHW as before, no batching) and with ``--batch``
(channels-last, same-shape images stacked), in interleaved rounds (ABAB: a busy machine slows
both alike); prints the median images/s of each, the ratio, and the largest pixel difference.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from textsynth.evaluation.run import read_bench
from textsynth.vae.inference import Reconstructor, load_vae


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("bench")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    images = [img for (_, img, _, _), _ in zip(read_bench(a.bench), range(a.images))]
    old = Reconstructor(load_vae(a.checkpoint, "cpu"), batch=1)   # as before: one by one, NCHW
    new = Reconstructor(load_vae(a.checkpoint, "cpu"), batch=a.batch, channels_last=True)
    rates = {"one at a time": [], f"batch {a.batch}, channels-last": []}
    for _ in range(a.rounds):
        for name, rec in zip(rates, (old, new)):
            t = time.perf_counter()
            out = rec.many(images)
            rates[name].append(len(images) / (time.perf_counter() - t))
    diff = max(int(np.abs(x.astype(int) - y).max()) for x, y in zip(old.many(images[:8]), new.many(images[:8])))
    shapes = sorted({img.shape[:2] for img in images})
    print(f"{len(images)} images of {a.bench}, shapes {shapes[:4]}{'...' if len(shapes) > 4 else ''}, "
          f"{a.threads} threads, {a.rounds} rounds")
    print("| path | images/s (median) |\n|---|---|")
    for name, r in rates.items():
        print(f"| {name} | {statistics.median(r):.2f} |")
    a_, b_ = (statistics.median(r) for r in rates.values())
    print(f"\nratio {b_ / a_:.2f}x; largest pixel difference {diff}")
    del out


if __name__ == "__main__":
    main()
