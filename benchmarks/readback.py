"""Read-back legibility per layout template: PP-OCRv5 NED of the >= 14 px lines.

Renders N samples per template with `pipelines/configs/synth_docs.yaml` at 14-20 px, OCRs
each line from its own crop (textsynth/evaluation/readback.py) and prints mean NED per
template and language (Markdown and a JSON line).

    python benchmarks/readback.py [--num 40] [--seed 1]
"""

from __future__ import annotations

import argparse
import json

from textsynth import paths
from textsynth.config import load_config
from textsynth.evaluation.readback import readback
from textsynth.ocr import OCR
from textsynth.synthesis.layouts import TEMPLATES
from textsynth.synthesis.resources import Resources


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--num", type=int, default=40, help="samples per template")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    ocr, rows = OCR(), []
    for t in TEMPLATES:
        res = Resources(load_config(paths.packaged_config("synth_docs.yaml"),
                                    layout={"template_probs": {t: 1.0}},
                                    size={"buckets": {"14-20": [14, 20]}, "bucket_probs": {"14-20": 1.0}}))
        rows.append({"template": t, **readback(res, ocr, args.seed, args.num)})
    print("| template | lines | mean NED | en | zh |\n|---|---:|---:|---:|---:|")
    for r in rows:
        by = {k.split("/")[1]: v["mean_ned"] for k, v in r["by"].items()}
        print(f"| {r['template']} | {r['lines']} | {r['mean_ned']:.3f} | {by.get('en', '-')} | {by.get('zh', '-')} |")
    print(json.dumps({"num": args.num, "seed": args.seed, "rows": rows}, ensure_ascii=False))


if __name__ == "__main__":
    main()
