"""Legibility of realistic synthesis: PP-OCRv5 recognition NED of the >= 14 px lines, read
from the crop each line's label rectifies, per mode and per template.

Every row renders ``--num`` samples of ``pipelines/configs/synth_real.yaml`` at 14-20 px
with one ingredient forced (paper pages, scenes, photos, plain colours, each geometry, and
degradations at the config's strength and at the largest the config allows, all on the
horizontal templates; the vertical template on paper, photos and in scenes), or, for the
template rows, the config's own mix with one template. Each line is
recognised (no detection) from its quad rectified, its curve polygon straightened, or its
vertical column turned (textsynth/ocr.py ``line_reading_crop``). Target: mean NED >= 0.95
in every row. Prints Markdown and a JSON line.

    python benchmarks/legibility.py [--num 24] [--seed 1] [--rows modes|templates|all]
"""

from __future__ import annotations

import argparse
import json
import time

from textsynth import paths
from textsynth.config import load_config
from textsynth.evaluation.readback import read_quads
from textsynth.ocr import Recognizer
from textsynth.synthesis.layouts import TEMPLATES
from textsynth.synthesis.resources import Resources

NO_GEO = {"geometry": {"prob": 0.0}, "degrade": {"prob": 0.0}}
# the mode rows read horizontal templates only, so that a mode's figure is not the vertical
# template's (which has its own rows)
HORIZONTAL = {"layout": {"template_probs": {"dense": 0.2, "columns": 0.12, "heading": 0.08, "lists": 0.08,
                                            "table": 0.12, "form": 0.07, "slide": 0.06, "blocks": 0.08,
                                            "caption": 0.07}}}
MODES = {
    "paper": {"background": {"mode_probs": {"paper": 1}}, **NO_GEO},
    "scene": {"background": {"mode_probs": {"scene": 1}}, "degrade": {"prob": 0.0}},
    "photo": {"background": {"mode_probs": {"photo": 1}}, **NO_GEO},
    "plain": {"background": {"mode_probs": {"plain": 1}}, **NO_GEO},
    **{f"geometry: {k}": {"geometry": {"prob": 1.0, "kind_probs": {k: 1.0}}, "degrade": {"prob": 0.0}}
       for k in ("rotate", "perspective", "arc", "wave")},
    "vertical on paper": {"layout": {"template_probs": {"vertical": 1}}, **NO_GEO,
                          "background": {"mode_probs": {"paper": 1}}},
    "vertical on photos": {"layout": {"template_probs": {"vertical": 1}}, **NO_GEO,
                           "background": {"mode_probs": {"photo": 1}}},
    "vertical in scenes": {"layout": {"template_probs": {"vertical": 1}}, "degrade": {"prob": 0.0},
                           "background": {"mode_probs": {"scene": 1}}},
    "degrade (strength 0.6, the config's)": {"degrade": {"prob": 1.0}, "geometry": {"prob": 0.0}},
    "degrade (strength 1.0, the default caps)": {"degrade": {"prob": 1.0, "strength": 1.0}, "geometry": {"prob": 0.0}},
}
SIZE = {"buckets": {"14-20": [14, 20]}, "bucket_probs": {"14-20": 1.0}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--num", type=int, default=24, help="samples per row")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rows", choices=("modes", "templates", "all"), default="all")
    args = ap.parse_args()
    rec = Recognizer()
    cases = {}
    if args.rows in ("modes", "all"):
        cases.update({k: v if "vertical" in k else {**HORIZONTAL, **v} for k, v in MODES.items()})
    if args.rows in ("templates", "all"):
        cases.update({f"template: {t}": {"layout": {"template_probs": {t: 1.0}}} for t in TEMPLATES})
    rows, t0 = [], time.perf_counter()
    for name, over in cases.items():
        over = {**over, "size": SIZE}
        res = Resources(load_config(paths.packaged_config("synth_real.yaml"), **over))
        rows.append({"row": name, **read_quads(res, rec, args.seed, args.num)})
        print(f"{name}: {rows[-1]['mean_ned']} over {rows[-1]['lines']} lines", flush=True)
    print(f"\n{args.num} samples per row, seed {args.seed}, {time.perf_counter() - t0:.0f} s\n")
    print("| row | lines | mean NED | lines < 0.8 | en | zh | met (>= 0.95) |\n|---|---:|---:|---:|---:|---:|---|")
    for r in rows:
        langs: dict[str, list] = {}
        for k, v in r["by"].items():
            langs.setdefault(k.split("/")[1], []).append(v)
        by = {lang: sum(v["mean_ned"] * v["lines"] for v in vs) / sum(v["lines"] for v in vs) for lang, vs in langs.items()}
        met = "yes" if r["mean_ned"] is not None and r["mean_ned"] >= 0.95 else "**no**"
        print(f"| {r['row']} | {r['lines']} | {r['mean_ned']} | {r['below_0.8']} | "
              f"{by.get('en', float('nan')):.3f} | {by.get('zh', float('nan')):.3f} | {met} |")
    print(json.dumps({"num": args.num, "seed": args.seed, "rows": rows}, ensure_ascii=False))


if __name__ == "__main__":
    main()
