"""Label accuracy of geometric text: every labelled quad (or curve polygon) against the ink
it names, re-drawn from the recipe and mapped by the sample's geometry
(textsynth/synthesis/label_check.py).

For each geometry (rotate, perspective, arc, wave), scenes, and vertical columns on turned
pages, renders ``--num`` samples of ``pipelines/configs/synth_real.yaml`` and reports the
lines checked, the share whose label contains all their ink, the worst overshoot of ink
outside a label, the area ratio label / tight ink polygon (median, 99th percentile, max;
target: max <= 1.5 for lines of four or more characters), and the share of exact bboxes.

    python benchmarks/label_accuracy.py [--num 60] [--seed 3]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from textsynth import paths
from textsynth.config import load_config
from textsynth.synthesis.generate import Stats, make_sample
from textsynth.synthesis.label_check import check_line
from textsynth.synthesis.resources import Resources

FLAT = {"degrade": {"prob": 0.0}, "background": {"mode_probs": {"plain": 1, "paper": 1}}}
CASES = {**{k: {"geometry": {"prob": 1.0, "kind_probs": {k: 1.0}}, **FLAT}
            for k in ("rotate", "perspective", "arc", "wave")},
         "scene": {"background": {"mode_probs": {"scene": 1}}, "degrade": {"prob": 0.0}},
         "vertical, turned": {"geometry": {"prob": 1.0, "kind_probs": {"rotate": 1, "perspective": 1}},
                              "layout": {"template_probs": {"vertical": 1}}, **FLAT}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--num", type=int, default=60, help="samples per case")
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    rows = []
    for name, over in CASES.items():
        res = Resources(load_config(paths.packaged_config("synth_real.yaml"), **over))
        checks, ratios = [], []
        for i in range(args.num):
            _, meta = make_sample(res, args.seed, i, Stats())
            recipe = meta["recipe"]
            for ln, rl in zip(meta["lines"], recipe["lines"]):
                c = check_line(res, recipe, ln, rl)
                checks.append(c)
                if len(rl["text"].replace(" ", "")) >= 4:
                    ratios.append(c["ratio"])
        outside = np.array([c["outside"] for c in checks])
        rows.append({"case": name, "lines": len(checks), "contained": float(np.mean(outside <= 1e-3)),
                     "worst_outside_px": round(float(outside.max()), 3),
                     "ratio_median": round(float(np.median(ratios)), 3),
                     "ratio_p99": round(float(np.percentile(ratios, 99)), 3),
                     "ratio_max": round(float(max(ratios)), 3),
                     "bbox_exact": float(np.mean([c["bbox_exact"] for c in checks]))})
    print(f"{args.num} samples per case, seed {args.seed}\n")
    print("| case | lines | ink inside label | worst ink outside (px) | area ratio median / p99 / max | exact bbox | met |")
    print("|---|---:|---:|---:|---|---:|---|")
    for r in rows:
        met = "yes" if r["contained"] == 1.0 and r["ratio_max"] <= 1.5 else "**no**"
        print(f"| {r['case']} | {r['lines']} | {r['contained']:.1%} | {r['worst_outside_px']} | "
              f"{r['ratio_median']} / {r['ratio_p99']} / {r['ratio_max']} | {r['bbox_exact']:.1%} | {met} |")
    print(json.dumps({"num": args.num, "seed": args.seed, "rows": rows}))


if __name__ == "__main__":
    main()
