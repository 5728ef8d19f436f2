"""Text density per layout template: non-space characters per 256x256 of canvas.

Renders N samples per template with the document config (`pipelines/configs/synth_docs.yaml`,
one template at a time) and prints, per template and size bucket, the median and 10th
percentile of non-space characters per 256x256 and the mean ink coverage, as a Markdown table
and a JSON line. The default config's `blocks` template is the baseline.

    python benchmarks/density.py [--num 1000] [--templates dense columns ...]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict

import numpy as np

from textsynth import paths
from textsynth.config import load_config
from textsynth.synthesis.generate import Stats, make_sample
from textsynth.synthesis.layouts import TEMPLATES
from textsynth.synthesis.recipe import Skip
from textsynth.synthesis.resources import Resources
from textsynth.synthesis.text import count_chars


def measure(template: str, num: int, seed: int) -> dict:
    cfg = load_config(paths.packaged_config("synth_docs.yaml"),
                      layout={"template_probs": {template: 1.0}})
    res, stats = Resources(cfg), Stats()
    per_bucket: dict[str, list[float]] = defaultdict(list)
    ink: list[float] = []
    t0 = time.perf_counter()
    for i in range(num):
        try:
            img, meta = make_sample(res, seed, i, stats)
        except Skip:
            continue
        area = meta["width"] * meta["height"] / 256 ** 2
        per_bucket[meta["size_bucket"]].append(count_chars(meta["text"]) / area)
        ink.append(meta["scores"]["ink_frac"])
    seconds = time.perf_counter() - t0
    return {"template": template, "samples": stats.samples, "skips": sum(stats.skips.values()),
            "ms_per_sample": round(1000 * seconds / max(1, stats.samples), 1),
            "mean_ink_frac": round(float(np.mean(ink)), 4),
            "buckets": {b: {"n": len(v), "median": float(np.median(v)), "p10": float(np.percentile(v, 10))}
                        for b, v in sorted(per_bucket.items(), key=lambda kv: int(kv[0].split("-")[0]))}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--num", type=int, default=1000, help="samples per template")
    ap.add_argument("--templates", nargs="+", default=list(TEMPLATES))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rows = [measure(t, args.num, args.seed) for t in args.templates]
    buckets = ["5-8", "9-12", "13-16", "17-20"]
    print("| template | samples | ms/sample | ink | " + " | ".join(f"{b} px median (p10)" for b in buckets) + " |")
    print("|---|---:|---:|---:|" + "---:|" * len(buckets))
    for r in rows:
        cells = [f"{r['buckets'][b]['median']:.0f} ({r['buckets'][b]['p10']:.0f})" if b in r["buckets"] else "-"
                 for b in buckets]
        print(f"| {r['template']} | {r['samples']} | {r['ms_per_sample']} | {r['mean_ink_frac']:.1%} | "
              + " | ".join(cells) + " |")
    print(json.dumps({"num": args.num, "seed": args.seed, "rows": rows}))


if __name__ == "__main__":
    main()
