"""The README table "What the data does": one row per question and arm, each arm against its
question's control arm, from the experiments' ``results.json`` intervals.

    python benchmarks/what_the_data_does.py out/q-a out/q-b out/q-c out/q-d

Each argument is an experiment dir (``results.json`` inside); the row label is the dir's
question letter when named ``q-X``. Cells: arm minus control, [95% interval] — paired
bootstrap over bench images with the seed spread (docs/guides/experiments.md "How differences are judged") —
and the verdict of the comparison that decides the row.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from textsynth.experiment.stats import verdict_text

COLUMNS = [("synth", "9-12", "synthetic 9-12 px NED"), ("synth", "13-20", "synthetic 13-20 px NED"),
           ("doc", "all", "doc NED"), ("scene", "all", "scene NED"), ("general", "all", "photos PSNR")]
JUDGED = [c for c in COLUMNS if c[0] != "general"]   # the verdict reads the NED columns


def cell(d: dict | None, psnr: bool) -> str:
    if d is None:
        return "–"
    f = "{:+.2f}" if psnr else "{:+.3f}"
    g = "{:.2f}" if psnr else "{:.3f}"
    mark = "**" if d["beyond_noise"] else ""
    return f"{mark}{f.format(d['diff'])}{mark} [{g.format(d['lo'])}, {g.format(d['hi'])}]"


def rows(exp: Path) -> list[str]:
    res = json.loads((exp / "results.json").read_text())
    iv = res.get("intervals")
    if not iv or not iv.get("vs_control"):
        raise SystemExit(f"{exp}/results.json has no arm-vs-control intervals (one arm, or an old run)")
    label = exp.name.removeprefix("q-") if exp.name.startswith("q-") else exp.name
    out = []
    for arm, benches in iv["vs_control"].items():
        cells = [cell(benches.get(b, {}).get(g), b == "general") for b, g, _ in COLUMNS]
        text = [benches[b][g] for b, g, _ in JUDGED if g in benches.get(b, {})]
        verdict = ("beyond noise: " + ", ".join(f"{b} {g}" for b, g, _ in JUDGED
                                                 if benches.get(b, {}).get(g, {}).get("beyond_noise"))
                   if any(d["beyond_noise"] for d in text) else
                   "no effect, " + verdict_text(max(text, key=lambda d: d["half_width"])).removeprefix("within noise, ")
                   if text else "–")
        out.append(f"| ({label}) {arm} vs {iv['control']} | {iv['seeds'][arm]}+{iv['seeds'][iv['control']]} | "
                   + " | ".join(cells) + f" | {verdict} |")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("experiments", nargs="+", type=Path)
    args = ap.parse_args()
    print("| question: arm vs control | seeds | " + " | ".join(c[2] for c in COLUMNS) + " | verdict |")
    print("|---" * (len(COLUMNS) + 3) + "|")
    for exp in args.experiments:
        print("\n".join(rows(exp)))


if __name__ == "__main__":
    main()
