"""The experiment's report: results.json, results.md, recon_grid.png, curves.png.

Means per run come from each eval's metrics; the 95% intervals, the differences against the
control arm with their verdicts and the minimum detectable differences come from the
per-image scores (``OUT/eval/RUN/BENCH/per_image.parquet``) pooled over each arm's seeds
(textsynth/experiment/stats.py says how)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np

METRICS = ("ned", "psnr", "ssim")
BUCKETS = ("5-8", "9-12", "13-16", "17-20")
# The metric each bench is judged by, and the targets for the minimum detectable
# difference (bench, group) -> largest half-width of the 95% difference interval.
JUDGED_BY = {"synth": "ned", "doc": "ned", "general": "psnr", "scene": "ned"}   # scene: when configured
MDE_TARGETS = {("synth", "9-12"): 0.02, ("synth", "13-20"): 0.02, ("doc", "all"): 0.03}
BENCH_TITLES = {"synth": "Synthetic bench NED", "doc": "Doc bench NED", "general": "General photos PSNR",
                "scene": "Scene bench NED"}


def _collect(out: Path, st, runs, models: dict) -> dict:
    results = {}
    for name in models:
        r = {"benches": {}}
        for b in JUDGED_BY:
            e = st.done(f"eval/{name}/{b}")
            if e is None:
                continue
            r["benches"][b] = {"overall": e["overall"], "by_size_bucket": e["by_size_bucket"],
                               "by_lang": e["by_lang"] if b != "general" else {}}
        results[name] = r
    for name, arm, seed in runs:
        t = st.done(f"train/{name}") or {}
        # a run trained in segments (the closed loop's) has a stage per segment
        segments = [json.loads(p.read_text()) for p in st.dir.glob(f"train--{name}@*.json")]
        seconds = round(sum(s.get("train_seconds") or 0 for s in [t, *segments]), 1)
        results[name].update(arm=arm, seed=seed, steps=t.get("steps"), images=t.get("images"),
                             seconds=seconds if t else None, parameters=t.get("parameters"))
        c = st.done(f"curve/{name}")
        if c:
            results[name]["curve"] = c["points"]
    return results


def _ned_13_20(r: dict) -> float | None:
    """Mean NED over the synth bench's 13-16 and 17-20 px images (weighted by count)."""
    by = r["benches"].get("synth", {}).get("by_size_bucket", {})
    parts = [(v["n"], v["ned"]) for b, v in by.items() if b in ("13-16", "17-20") and "ned" in v]
    n = sum(p[0] for p in parts)
    return round(sum(k * v for k, v in parts) / n, 4) if n else None


def verdict(cfg: dict, results: dict) -> dict:
    """The issue's target, computed the same way every time: the infusion arm against the
    general-only arm (names from the config's ``report`` roles, else the first and last arm)."""
    arms = list(cfg["arms"])
    base, test = arms[0], arms[-1]
    if base == test or base not in results or test not in results:
        return {}
    rb, rt = results[base], results[test]
    out = {"baseline": base, "treatment": test}
    seeds = [r for r in results.values() if r.get("arm") == base]
    sb, stt = _ned_13_20(rb), _ned_13_20(rt)
    if sb is not None and stt is not None:
        vals = [_ned_13_20(r) for r in seeds]
        out["synth_ned_13_20"] = {"baseline": sb, "treatment": stt, "gain": round(stt - sb, 4),
                                  "baseline_seed_spread": round(max(vals) - min(vals), 4) if len(vals) > 1 else None,
                                  "target_gain": 0.10, "met": stt - sb >= 0.10}
    doc = lambda r: r["benches"].get("doc", {}).get("overall", {}).get("ned")  # noqa: E731
    if doc(rb) is not None and doc(rt) is not None:
        spread = (max(doc(r) for r in seeds) - min(doc(r) for r in seeds)) if len(seeds) > 1 else None
        gain = doc(rt) - doc(rb)
        out["doc_ned"] = {"baseline": doc(rb), "treatment": doc(rt), "gain": round(gain, 4),
                          "baseline_seed_spread": None if spread is None else round(spread, 4),
                          "met": None if spread is None else gain > spread}
    psnr = lambda r: r["benches"].get("general", {}).get("overall", {}).get("psnr")  # noqa: E731
    if psnr(rb) is not None and psnr(rt) is not None:
        d = psnr(rt) - psnr(rb)
        out["general_psnr"] = {"baseline": psnr(rb), "treatment": psnr(rt), "delta_db": round(d, 3),
                               "met": d >= -0.5}
    return out


def intervals(cfg: dict, out: Path, runs, control: str | None = None, n_boot: int = 4000) -> dict | None:
    """95% intervals per arm (its seeds pooled), differences against ``control`` (default: the
    config's first arm) with verdicts, and the minimum detectable difference per group. The
    closed loop's run is an arm of its own (it is one steered seed, not another seed of its arm)."""
    from textsynth.experiment import stats
    from textsynth.experiment.config import loop_plan

    plan = loop_plan(cfg)
    loop_run = plan["loop"] if plan else None
    arms: dict = {}
    for name, arm, _ in runs:
        scores = stats.Scores.read_run(out / "eval" / name, tuple(JUDGED_BY))
        if len(scores):
            arms.setdefault(name if name == loop_run else arm, []).append(scores)
    if not arms:
        return None
    control = control or next(iter(cfg["arms"]))
    summary = stats.summarise(arms, control if control in arms else None, JUDGED_BY, n_boot=n_boot)
    dfs = [df for g in summary["seed_df"].values() for df in g.values()]
    summary["seed_part"] = (f"between-seed spread pooled over the arms ({max(dfs)} degrees of freedom)"
                            if dfs and max(dfs) > 0 else
                            "none: one seed per arm, so the intervals come from the image bootstrap "
                            "only and understate the noise")
    judged = bool(dfs) and max(dfs) > 0      # without a seed spread the half-widths are too small
    summary["targets"] = []
    for (b, g), t in MDE_TARGETS.items():
        got = summary["min_detectable"].get(b, {}).get(g)
        why = ("no interval for this group" if got is None else "no seed spread" if not judged
               else "no variation between images" if got == 0 else None)
        summary["targets"].append({"bench": b, "group": g, "target": t, "min_detectable": got,
                                   "met": None if why else got <= t, "not_judged": why})
    return summary


def _fmt(v: float, metric: str, sign: str = "") -> str:
    return f"{v:{sign}.2f}" if metric == "psnr" else f"{v:{sign}.3f}"


def intervals_markdown(iv: dict) -> list[str]:
    """Tables: arm means with 95% intervals per bench and group; every arm against the control
    with a verdict; the minimum detectable difference per group against the targets."""
    from textsynth.experiment.stats import verdict_text

    lines = ["## 95% intervals", "",
             f"Paired bootstrap over bench images ({iv['n_boot']} resamples) combined with the seed "
             f"spread; seed part: {iv['seed_part']}. Seeds per arm: "
             + ", ".join(f"{a} {n}" for a, n in iv["seeds"].items()) + ". Method: docs/guides/experiments.md "
             "\"How differences are judged\".", ""]
    for bench, metric in iv["metric_of_bench"].items():
        per_arm = {a: b[bench] for a, b in iv["arms"].items() if bench in b}
        if not per_arm:
            continue
        cols = list(next(iter(per_arm.values())))
        lines += [f"### {BENCH_TITLES.get(bench, bench)}: mean [95% interval]", "",
                  "| arm | seeds | " + " | ".join(f"{c} ({per_arm[next(iter(per_arm))][c]['n_images']})"
                                                  for c in cols) + " |",
                  "|---" * (len(cols) + 2) + "|"]
        for a, g in per_arm.items():
            cells = [f"{_fmt(g[c]['mean'], metric)} [{_fmt(g[c]['lo'], metric)}, {_fmt(g[c]['hi'], metric)}]"
                     if c in g else "–" for c in cols]
            lines.append(f"| {a} | {iv['seeds'][a]} | " + " | ".join(cells) + " |")
        lines.append("")
    if iv["vs_control"]:
        lines += [f"### Against the control arm `{iv['control']}` (arm minus control, paired)", "",
                  "| arm | bench | group | images | difference | 95% interval | verdict |",
                  "|---|---|---|---|---|---|---|"]
        for a, benches in iv["vs_control"].items():
            for bench, gs in benches.items():
                m = iv["metric_of_bench"][bench]
                for g, d in gs.items():
                    lines.append(f"| {a} | {bench} | {g} | {d['n_images']} | {_fmt(d['diff'], m, '+')} | "
                                 f"[{_fmt(d['lo'], m)}, {_fmt(d['hi'], m)}] | {verdict_text(d)} |")
        lines.append("")
        targets = {(t["bench"], t["group"]): t for t in iv["targets"]}
        lines += ["### Minimum detectable difference (95%)", "",
                  "The smallest arm-minus-control difference this design calls real: the largest "
                  "half-width of the difference intervals above.", "",
                  "| bench | group | min. detectable | target |", "|---|---|---|---|"]
        for bench, gs in iv["min_detectable"].items():
            for g, v in gs.items():
                t = targets.get((bench, g))
                judged = ("" if t is None else f" (not judged: {t['not_judged']})" if t["not_judged"]
                          else " (met)" if t["met"] else " (missed)")
                lines.append(f"| {bench} | {g} | ±{_fmt(v, iv['metric_of_bench'][bench])} | "
                             + (f"≤ {t['target']}{judged}" if t else "") + " |")
        lines.append("")
    if iv.get("too_few_images"):
        lines += ["Groups with too few images for an interval: " + ", ".join(iv["too_few_images"]) + ".", ""]
    return lines


def markdown(cfg: dict, results: dict, verdict_: dict, loop_section: dict | None = None,
             intervals_: dict | None = None) -> str:
    lines = ["# Does the data help? Text-infusion ablation", ""]
    runs = [n for n, r in results.items() if "arm" in r]
    if runs:
        r0 = results[runs[0]]
        lines += [f"Model `{cfg['train'].get('model', {}).get('name')}` ({r0.get('parameters')} parameters), "
                  f"{r0.get('steps')} steps x {cfg['train'].get('data', {}).get('batch_size')} images "
                  f"at {cfg['train'].get('data', {}).get('resolution')} px per run; "
                  + ("quick mode." if cfg.get("quick_mode") else "full run."), ""]
        lines += ["| run | arm | seed | steps | images | train s |", "|---|---|---|---|---|---|"]
        for n in runs:
            r = results[n]
            lines.append(f"| {n} | {r['arm']} | {r['seed']} | {r['steps']} | {r['images']} | {r['seconds']} |")
        lines.append("")
    for bench, title in (("synth", "Synthetic bench (held-out text and photos)"),
                         ("doc", "Doc bench (held-out documents)"),
                         ("scene", "Scene bench (bench.scene.config on held-out text and photos)")):
        if not any(bench in r["benches"] for r in results.values()):
            continue
        lines += [f"## {title}: NED by size bucket", "",
                  "| model | all | " + " | ".join(BUCKETS) + " | en | zh | mixed | PSNR | SSIM |",
                  "|---" * (len(BUCKETS) + 7) + "|"]
        for name, r in results.items():
            b = r["benches"].get(bench)
            if not b:
                continue
            by, lang, o = b["by_size_bucket"], b["by_lang"], b["overall"]
            cell = lambda d, k: f"{d[k]['ned']:.3f} ({d[k]['n']})" if k in d and "ned" in d[k] else "–"  # noqa: E731
            lines.append(f"| {name} | {o.get('ned', float('nan')):.3f} | "
                         + " | ".join(cell(by, k) for k in BUCKETS) + " | "
                         + f"{cell(lang, 'en')} | {cell(lang, 'zh')} | {cell(lang, 'mixed')} | {o.get('psnr', 0):.2f} | "
                         + f"{o.get('ssim', 0):.4f} |")
        lines.append("")
    lines += ["## General photos (held out): fidelity", "", "| model | PSNR | SSIM |", "|---|---|---|"]
    for name, r in results.items():
        o = r["benches"].get("general", {}).get("overall")
        if o:
            lines.append(f"| {name} | {o['psnr']:.2f} | {o['ssim']:.4f} |")
    lines.append("")
    if intervals_:
        lines += intervals_markdown(intervals_)
    if verdict_:
        lines += ["## Target", "", "```json", json.dumps(verdict_, indent=1), "```", ""]
    if loop_section:
        from textsynth.experiment.loop import markdown as loop_markdown

        lines += loop_markdown(loop_section)
    if cfg.get("eval", {}).get("ned", "page") == "lines":
        lines.append("NED: line mode (`textsynth eval --ned lines`): each line box fixed on the original "
                     "(labelled, or detected once) is read by PP-OCRv5 recognition on the original and "
                     "on the reconstruction; 1 - edit distance / max length, weighted by characters; "
                     "cells are mean NED (images).")
    else:
        lines.append("NED: report eq. 5 (1 - edit distance / max length, PP-OCRv5 on original and "
                     "reconstruction); cells are mean NED (images).")
    return "\n".join(lines) + "\n"


# -------------------------------------------------------------------------------- pictures

def _label(img: np.ndarray, text: str) -> np.ndarray:
    bar = np.full((18, img.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, text[:40], (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([bar, img])


def _zoom_box(meta: dict, side: int = 64) -> tuple[int, int]:
    """Top-left of a side x side window on the sample's smallest text line."""
    lines = [ln for ln in meta.get("lines") or [] if ln.get("bbox")]
    if not lines:
        return 0, 0
    ln = min(lines, key=lambda l: (l.get("px") or 99, l["bbox"][1]))
    x0, y0, x1, y1 = ln["bbox"]
    w, h = meta.get("width", 256), meta.get("height", 256)
    return (int(min(max(0, x0 - 4), w - side)), int(min(max(0, (y0 + y1) / 2 - side / 2), h - side)))


def recon_grid(out: Path, names: list[str], n: int, path: Path) -> Path | None:
    """Rows of bench images: the original, then each model's reconstruction; under each row a
    4x nearest-neighbour zoom of the same 64x64 window on the smallest text."""
    from textsynth.evaluation.run import read_bench

    rows = []
    for bench in ("synth", "doc"):
        picked = 0
        for key, img, meta, _ in read_bench(out / "benches" / bench):
            if picked >= n // 2 + (n % 2 if bench == "synth" else 0):
                break
            recons = []
            for name in names:
                p = out / "recon" / name / bench / f"{key}.png"
                r = cv2.imread(str(p))
                recons.append(None if r is None else cv2.cvtColor(r, cv2.COLOR_BGR2RGB))
            if any(r is None for r in recons):
                continue
            x, y = _zoom_box(meta)
            full = [img] + recons
            zooms = [cv2.resize(np.ascontiguousarray(a[y:y + 64, x:x + 64]), None, fx=4, fy=4,
                                interpolation=cv2.INTER_NEAREST) for a in full]
            for a in full:   # mark the zoomed window
                cv2.rectangle(a, (x, y), (x + 63, y + 63), (255, 0, 0), 1)
            tops = [cv2.resize(a, (256, 256), interpolation=cv2.INTER_AREA) if a.shape[:2] != (256, 256) else a
                    for a in full]
            labels = ["original " + bench] + names
            rows.append(np.hstack([_label(t, lab) for t, lab in zip(tops, labels)]))
            rows.append(np.hstack(zooms))
            picked += 1
    if not rows:
        return None
    grid = np.vstack([np.pad(r, ((0, 6), (0, 0), (0, 0)), constant_values=255) for r in rows])
    cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    return path


def curves(out: Path, results: dict, path: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [n for n, r in results.items() if "arm" in r]
    if not runs:
        return None
    has_curve = any(results[n].get("curve") for n in runs)
    fig, axes = plt.subplots(1, 3 if has_curve else 1, figsize=(15 if has_curve else 6, 4), squeeze=False)
    ax = axes[0][0]
    for n in runs:
        log = out / "runs" / n / "log.csv"
        if not log.is_file():
            continue
        with log.open() as f:
            rows = list(csv.DictReader(f))
        ax.plot([int(r["step"]) for r in rows], [float(r["l1"]) for r in rows], label=n)
    ax.set(title="training L1", xlabel="step", yscale="log")
    ax.legend(fontsize=8)
    if has_curve:
        for k, key in ((1, "synth_ned"), (2, "doc_ned")):
            ax = axes[0][k]
            for n in runs:
                pts = results[n].get("curve") or []
                ax.plot([p["step"] for p in pts], [p.get(key) for p in pts], marker="o", label=n)
            ax.set(title=f"{key.split('_')[0]} bench NED (subset{', 13-20 px' if k == 1 else ''})",
                   xlabel="step", ylim=(0, 1))
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write(cfg: dict, out: Path, st, runs, models: dict, control: str | None = None) -> dict:
    """Write the report files; ``control``: the arm every other arm is compared with (default:
    the config's first arm)."""
    from textsynth.experiment import loop
    from textsynth.experiment.config import loop_plan

    results = _collect(out, st, runs, models)
    v = verdict(cfg, results)
    plan = loop_plan(cfg)
    doc = {"config": {"model": cfg["train"].get("model"), "quick": cfg.get("quick_mode"),
                      "arms": cfg["arms"], "references": cfg["eval"]["references"],
                      "ned_mode": cfg["eval"].get("ned", "page"), "rounds": cfg["rounds"] if plan else None},
           "models": results, "target": v}
    if plan:
        doc["loop"] = loop.results(plan, st, results)
    iv = intervals(cfg, out, runs, control)
    if iv:
        doc["intervals"] = iv
    (out / "results.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False))
    (out / "results.md").write_text(markdown(cfg, results, v, doc.get("loop"), iv))
    recon_grid(out, list(models), cfg["eval"]["grid_images"], out / "recon_grid.png")
    curves(out, results, out / "curves.png")
    return doc
