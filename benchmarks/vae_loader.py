"""VAE trainer data loader speed (issue 6); prints a Markdown table for BENCHMARKS.md.

    make demo   # or any synth / curate output dirs
    python benchmarks/vae_loader.py [--synth out/demo/synth] [--doc out/demo/curate] \
        [--general assets:backgrounds] [--resolution 256] [--seconds 10] [--step-seconds S]

Measures, in this process (= one loader worker, one core), samples/s of the trainer's real
pipeline (textsynth.vae.data: webdataset read, bucket filter, shuffle buffer, RandomMix,
decode, crop to the resolution, batch) for each source alone and for the text-infusion mix
(general 0.5 / doc 0.25 / synth 0.25), against a baseline measured in the same run: the
same samples read from the tars and decoded with PIL, nothing else.

With ``--step-seconds`` (a training step's time for one batch of ``--batch``, e.g. from
benchmarks/vae_step.py), it prints how many loader workers keep that step fed.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import io  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from textsynth.vae.config import checked  # noqa: E402
from textsynth.vae.data import StagedData, list_items, source_samples  # noqa: E402


def loader_rate(sources: dict, mix: dict, res: int, batch: int, seconds: float) -> float:
    cfg = checked({"model": {"name": "f16c64"},
                   "data": {"resolution": res, "batch_size": batch, "num_workers": 0,
                            "shuffle_buffer": 200, "sources": sources,
                            "stages": [{"name": "bench", "start": 0, "mix": mix}]},
                   "train": {"max_steps": 10 ** 9}})
    data = StagedData(cfg)
    it = data.batches(0)
    for _ in range(2):              # fill the shuffle buffers
        next(it)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        _, _, x, _ = next(it)
        n += x.shape[0]
    rate = n / (time.perf_counter() - t0)
    it.close()
    return rate


def decode_rate(name: str, paths: list[str], seconds: float) -> float:
    """Baseline: read the same samples and PIL-decode them, nothing else."""
    samples = source_samples(name, list_items(name, paths), 0, None)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        s = next(samples)
        with Image.open(io.BytesIO(s["image"])) as im:
            im.convert("RGB").load()
        n += 1
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--synth", default="out/demo/synth")
    ap.add_argument("--doc", default="out/demo/curate")
    ap.add_argument("--general", default="assets:backgrounds")
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--step-seconds", type=float, help="one training step's seconds (batch --batch)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    sources = {"general": {"paths": [args.general]}, "doc": {"paths": [args.doc]},
               "synth": {"paths": [args.synth]}}
    print(f"one loader worker (this process, 1 thread), {args.resolution}x{args.resolution}, "
          f"batch {args.batch}\n")
    print("| source | pipeline samples/s | read+decode only samples/s | pipeline / baseline |")
    print("|---|---|---|---|")
    rates = {}
    for name in ("general", "doc", "synth"):
        one = {name: sources[name]}
        rates[name] = loader_rate(one, {name: 1.0}, args.resolution, args.batch, args.seconds)
        base = decode_rate(name, one[name]["paths"], args.seconds)
        print(f"| {name} | {rates[name]:.1f} | {base:.1f} | {rates[name] / base:.2f} |")
    mix = {"general": 0.5, "doc": 0.25, "synth": 0.25}
    rates["mix"] = loader_rate(sources, mix, args.resolution, args.batch, args.seconds)
    expect = 1 / sum(p / rates[k] for k, p in mix.items())
    print(f"| mix 0.5/0.25/0.25 | {rates['mix']:.1f} | (harmonic mix of the rows above: "
          f"{expect:.1f}) | {rates['mix'] / expect:.2f} |")
    if args.step_seconds:
        need = args.batch / args.step_seconds
        print(f"\nstep: {args.batch} images in {args.step_seconds:.3f} s = {need:.1f} images/s -> "
              f"{math.ceil(need / rates['mix'])} loader worker(s) for the mix, "
              f"{math.ceil(need / min(rates[k] for k in mix))} for the slowest source alone")


if __name__ == "__main__":
    main()
