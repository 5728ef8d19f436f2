"""`textsynth mix suggest`: evaluation steers the synthesis mix (the data flywheel).

Reads `textsynth eval` results (metrics.json, one or more dirs of the *same* bench) and moves
the synthesis config's weights towards the groups where text survives worst:

    size.bucket_probs      <- NED by size bucket
    text.lang_probs        <- NED by language
    layout.template_probs  <- NED by layout template

The rule, per weight table (groups the eval did not see keep their weight):

1. normalise the current weights w; take each evaluated group's NED (mean over the eval
   dirs, weighted by their image counts) and the table's mean NED m (weighted by w);
2. proposal  w' = w * exp(rate * (m - NED)): below-average groups grow, above-average shrink;
3. bounded: no weight moves by more than ``step`` (absolute, after normalising) per round,
   and none goes below ``floor``, so no group is ever dropped; renormalised.

A short report (Markdown) says what changed and why. Data sources (document benches) are
reported but steer nothing: synthesis has no weight for them.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import yaml

from textsynth.config import load_config, read_json, read_yaml

TABLES = [("by_size_bucket", ("size", "bucket_probs"), "size bucket"),
          ("by_lang", ("text", "lang_probs"), "language"),
          ("by_template", ("layout", "template_probs"), "layout template")]


def _check_eval(path: Path, m) -> None:
    """The parts of an eval's metrics.json that the rule reads, typed: a ValueError names the
    file and the key."""
    if not isinstance(m, dict) or not isinstance(m.get("overall"), dict):
        raise ValueError(f"{path}: not `textsynth eval` results")
    if "ned" not in m["overall"]:
        raise ValueError(f"{path.parent}: no NED in these results (an eval without OCR); the mix needs NED")

    def wrong(key: str, what: str, v) -> ValueError:
        return ValueError(f"{path}: '{key}' must be {what}, got {v!r}")

    def ned(key: str, v) -> None:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
            raise wrong(key, "a NED in [0, 1]", v)

    ned("overall.ned", m["overall"]["ned"])
    if not isinstance(m.get("bench"), str):
        raise wrong("bench", "the bench's path (a string)", m.get("bench"))
    for key in [k for k, _, _ in TABLES] + ["by_data_source"]:
        table = m.get(key, {})
        if not isinstance(table, dict):
            raise wrong(key, "a mapping of groups", table)
        for g, v in table.items():
            if not isinstance(v, dict):
                raise wrong(f"{key}.{g}", "a mapping with n and ned", v)
            n = v.get("n", 0)
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise wrong(f"{key}.{g}.n", "an image count (an integer >= 0)", n)
            if v.get("ned") is not None:
                ned(f"{key}.{g}.ned", v["ned"])


def read_evals(dirs: list[str]) -> tuple[list[dict], str]:
    """metrics.json of each eval dir, and the bench they share (a ValueError names a dir whose
    results are unreadable, malformed, lack NED, or come from another bench)."""
    evals, bench = [], None
    for d in dirs:
        path = Path(d) / "metrics.json"
        m = read_json(path, f"eval results of {d} (run `textsynth eval` first)")
        _check_eval(path, m)
        if bench is not None and m.get("bench") != bench:
            raise ValueError(f"{d} evaluated bench {m.get('bench')!r}, {dirs[0]} bench {bench!r}: "
                             "suggest from evals of one bench (NED across benches is not comparable)")
        bench = m.get("bench")
        evals.append(m)
    return evals, bench


def group_ned(evals: list[dict], key: str) -> dict[str, tuple[float, int]]:
    """{group: (mean NED, images)} of one breakdown over all evals, weighted by image counts."""
    total: dict[str, list[float]] = {}
    for m in evals:
        for g, v in (m.get(key) or {}).items():
            if v.get("ned") is not None and v.get("n"):
                s = total.setdefault(g, [0.0, 0])
                s[0] += v["ned"] * v["n"]
                s[1] += v["n"]
    return {g: (s / n, n) for g, (s, n) in total.items()}


def bounded_update(weights: dict[str, float], ned: dict[str, float], rate: float, step: float,
                   floor: float) -> dict[str, float]:
    """The rule of the module docstring for one weight table. Groups without NED keep their
    (normalised) weight exactly; the evaluated ones share the rest."""
    total = sum(weights.values())
    w = {g: v / total for g, v in weights.items()}
    seen = [g for g in w if g in ned]
    if not seen:
        return {g: round(v, 4) for g, v in w.items()}
    mass = sum(w[g] for g in seen)
    mean = sum(w[g] * ned[g] for g in seen) / mass
    prop = {g: w[g] * math.exp(rate * (mean - ned[g])) for g in seen}
    lo = {g: min(w[g], max(floor, w[g] - step)) for g in seen}
    hi = {g: w[g] + step for g in seen}

    def fitted(scale: float) -> dict[str, float]:
        return {g: min(hi[g], max(lo[g], scale * prop[g])) for g in seen}

    # The scale at which the bounded proposal sums to the evaluated groups' mass (bisection:
    # the sum grows with the scale; w itself lies within the bounds, so a solution exists).
    a, b = 0.0, 1.0
    while sum(fitted(b).values()) < mass and b < 1e12:
        b *= 2
    for _ in range(100):
        mid = (a + b) / 2
        a, b = (mid, b) if sum(fitted(mid).values()) < mass else (a, mid)
    new = {**w, **fitted(b)}
    return {g: round(v, 4) for g, v in new.items()}


def suggest_weights(evals: list[dict], bench: str, cfg: dict, rate: float = 4.0, step: float = 0.10,
                    floor: float = 0.05) -> tuple[dict, str]:
    """The moved weights of a checked synthesis config ``cfg`` from eval results of one bench:
    ``({section: {name: weights}}, report)`` for every table with two or more groups."""
    if not (0 < floor < 1 and 0 < step <= 1 and 0 < rate <= 100):   # false for NaN too
        raise ValueError(f"need 0 < --floor < 1, 0 < --step <= 1 and 0 < --rate <= 100; "
                         f"got floor {floor}, step {step}, rate {rate}")
    moved: dict = {}
    lines = [f"# Mix suggestion from {len(evals)} eval(s) of `{bench}`", "",
             f"Rule: w' = w * exp({rate} * (mean NED - NED)), each weight moved at most {step} and kept at "
             f"least {floor}, renormalised (textsynth/mix.py).", ""]
    for key, (section, name), heading in TABLES:
        weights = cfg[section][name]
        if len(weights) < 2:
            continue
        if len(weights) * floor > 1:
            raise ValueError(f"--floor {floor} x {len(weights)} groups of {section}.{name} exceeds 1")
        ned = group_ned(evals, key)
        unknown = sorted(set(ned) - set(weights) - {"unknown"})
        new = bounded_update(weights, {g: v for g, (v, _) in ned.items() if g in weights}, rate, step, floor)
        moved.setdefault(section, {})[name] = new
        total = sum(weights.values())
        lines += [f"## {section}.{name} (by {heading})", "", "| group | NED | images | weight | suggested | why |",
                  "|---|---|---|---|---|---|"]
        for g in weights:
            old = weights[g] / total
            if g not in ned:
                why = "not in the eval: unchanged"
            else:
                d = new[g] - old
                why = ("below" if d > 0 else "above" if d < 0 else "at") + " the mean NED"
                if abs(abs(d) - step) < 1e-3:
                    why += f", capped at {'+' if d > 0 else '-'}{step}"
                if abs(new[g] - floor) < 1e-3:
                    why += f", at the floor {floor}"
            v, n = ned.get(g, (None, 0))
            lines.append(f"| {g} | {'–' if v is None else f'{v:.3f}'} | {n} | {old:.3f} | {new[g]:.3f} | {why} |")
        if unknown:
            lines.append(f"\nIn the eval but not in the config (ignored): {', '.join(unknown)}.")
        lines.append("")
    sources = group_ned(evals, "by_data_source")
    if sources:
        lines += ["Data sources (reported, steer nothing): "
                  + ", ".join(f"{g} {v:.3f} ({n})" for g, (v, n) in sorted(sources.items())), ""]
    return moved, "\n".join(lines)


def suggest(eval_dirs: list[str], config: str, out: str, rate: float = 4.0, step: float = 0.10,
            floor: float = 0.05) -> str:
    """Write ``out`` (the config with moved weights) and ``out`` with .md (the report);
    return the report."""
    evals, bench = read_evals(eval_dirs)
    cfg = load_config(config)                     # checked, with defaults: the weights in use
    moved, report = suggest_weights(evals, bench, cfg, rate, step, floor)
    raw = copy.deepcopy(read_yaml(Path(config)))  # what the user wrote: the output keeps it
    for section, tables in moved.items():
        raw.setdefault(section, {}).update(tables)
    outp = Path(out)
    outp.parent.mkdir(parents=True, exist_ok=True)
    header = f"# Suggested by `textsynth mix suggest` from {', '.join(eval_dirs)} (report: {outp.stem}.md)\n"
    outp.write_text(header + yaml.safe_dump(raw, sort_keys=False, allow_unicode=True))
    load_config(outp)   # the suggestion is itself a valid config
    outp.with_suffix(".md").write_text(report)
    return report
