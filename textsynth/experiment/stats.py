"""Intervals for the experiment: how sure is an arm's mean, and is a difference beyond noise?

How differences are judged. Two things make an arm's bench score uncertain: which bench images
were drawn, and which training seed (data order and sampling) the arm ran with. The image part
is a bootstrap over bench images: the same resampled images for every seed of an arm, and for
a difference the same images for both arms — paired, so the large image-to-image spread in
difficulty (a 6 px line vs a 20 px heading) cancels and only how differently the two arms read
each image remains. The seed part is a whole-run shift: the between-seed variance of the
per-seed means (less the per-image seed noise the image bootstrap already holds, as in a
two-way random-effects ANOVA), pooled over the arms compared — arms differ only in their data,
so their seed noise is alike, and 3 seeds x 2 arms give 4 degrees of freedom instead of 2.
Each bootstrap replicate adds ``se_seed * T(df)``; T rather than a bootstrap over seeds,
because 3 seeds give only 10 distinct resamples and understate the spread by (S-1)/S, while
T(df) widens the interval for a variance estimated from a few runs. The interval is the
2.5-97.5 percentile of the replicates (covers a known difference in 92-97% of simulated
experiments, tests/test_experiment_stats.py); a difference is "beyond noise" only when its
interval excludes 0. With one seed per arm the seed spread cannot be estimated: the interval
is then the image bootstrap alone, and the report says so. The minimum detectable difference
is the half-width of the difference interval: the smallest observed difference the design
calls real at 95%.

The data, :class:`Scores`: one run's per-image metrics on every bench, a dict of equal-length
numpy arrays (``bench``, ``key``, ``size_bucket``, ``lang`` as strings; ``ned``, ``psnr``,
``ssim`` as float, NaN where not measured), read from the ``per_image.parquet`` that ``textsynth
eval`` writes per bench. An image is identified by ``(bench, key)``; runs are aligned on it.

Pure numpy; the functions take aligned arrays, so they work for any per-image metric.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

LABELS = ("bench", "key", "size_bucket", "lang")
METRICS = ("ned", "psnr", "ssim")
# Groups that merge size buckets (the targets name 13-20 px).
MERGED_BUCKETS = {"13-20": ("13-16", "17-20")}


# ------------------------------------------------------------------------------ the data

@dataclass
class Scores:
    """One run's per-image scores: ``columns[name]`` is a numpy array, one entry per image."""

    columns: dict

    def __post_init__(self):
        lengths = {k: len(v) for k, v in self.columns.items()}
        missing = [k for k in ("bench", "key") if k not in self.columns]
        if missing or len(set(lengths.values())) > 1:
            raise ValueError(f"Scores need 'bench' and 'key' and equal-length columns; got {lengths}")

    def __len__(self) -> int:
        return len(self.columns["key"])

    @classmethod
    def from_rows(cls, rows: list[dict]) -> "Scores":
        """From dicts with ``bench``, ``key``, labels and metrics (None -> NaN, "unknown" label)."""
        cols = {k: np.array([str(r.get(k) or "unknown") for r in rows], dtype=object) for k in LABELS}
        for m in METRICS:
            cols[m] = np.array([np.nan if r.get(m) is None else float(r[m]) for r in rows], dtype=float)
        return cls(cols)

    @classmethod
    def read_run(cls, eval_dir: str | Path, benches=("doc", "synth", "general")) -> "Scores":
        """``EVAL_DIR/BENCH/per_image.parquet`` of one run (a missing bench is skipped)."""
        import pyarrow.parquet as pq

        rows = []
        for b in benches:
            p = Path(eval_dir) / b / "per_image.parquet"
            if not p.is_file():
                continue
            table = pq.read_table(p).to_pylist()
            if table and "key" not in table[0]:
                raise ValueError(f"{p}: no 'key' column (not a textsynth eval per_image.parquet)")
            rows += [{**r, "bench": b} for r in table]
        return cls.from_rows(rows)

    def where(self, mask: np.ndarray) -> "Scores":
        return Scores({k: v[mask] for k, v in self.columns.items()})

    def select(self, bench: str | None = None, size_bucket=None, lang: str | None = None) -> "Scores":
        """The images of one group; ``size_bucket`` may be a name, a merged name ("13-20") or a tuple."""
        mask = np.ones(len(self), bool)
        if bench is not None:
            mask &= self.columns["bench"] == bench
        if size_bucket is not None:
            wanted = MERGED_BUCKETS.get(size_bucket, size_bucket)
            wanted = (wanted,) if isinstance(wanted, str) else tuple(wanted)
            mask &= np.isin(self.columns["size_bucket"], wanted)
        if lang is not None:
            mask &= self.columns["lang"] == lang
        return self.where(mask)


def align(runs: list[Scores], metric: str) -> np.ndarray:
    """``(runs, images)`` array of ``metric`` on the images every run has, in one order; images
    where any run lacks the metric (NaN) are dropped. Runs on different image sets are an error:
    a paired comparison needs the same images."""
    ids = [list(zip(r.columns["bench"], r.columns["key"])) for r in runs]
    for i, x in enumerate(ids[1:], start=1):
        if set(x) != set(ids[0]):
            diff = sorted(set(x) ^ set(ids[0]))[:3]
            raise ValueError(f"run {i} was scored on other images than run 0 (e.g. {diff}); "
                             "compare runs on the same bench")
    order = sorted(ids[0])
    out = np.empty((len(runs), len(order)))
    for i, (r, x) in enumerate(zip(runs, ids)):
        where = {k: j for j, k in enumerate(x)}
        out[i] = r.columns[metric][[where[k] for k in order]]
    return out[:, ~np.isnan(out).any(axis=0)]


def groups(scores: Scores) -> list[tuple[str, str, dict]]:
    """``(bench, group name, select kwargs)``: per bench all images, each size bucket (and
    13-20 when both of its buckets are there) and each language."""
    out = []
    for bench in sorted(set(scores.columns["bench"])):
        s = scores.select(bench=bench)
        out.append((bench, "all", {"bench": bench}))
        buckets = sorted(set(s.columns["size_bucket"]) - {"unknown"}, key=_bucket_order)
        out += [(bench, b, {"bench": bench, "size_bucket": b}) for b in buckets]
        for merged, parts in MERGED_BUCKETS.items():
            if set(parts) <= set(buckets):
                out.append((bench, merged, {"bench": bench, "size_bucket": merged}))
        langs = sorted(set(s.columns["lang"]) - {"unknown"})
        out += [(bench, f"lang:{g}", {"bench": bench, "lang": g}) for g in langs]
    return out


def _bucket_order(name: str):
    head = name.split("-")[0]
    return (0, int(head)) if head.isdigit() else (1, name)


# --------------------------------------------------------------------------- intervals

def seed_variance(arms: list) -> tuple[float, int]:
    """Variance of a whole-run seed effect (a shift of every image's score), pooled over
    ``arms`` (each a ``(seeds, images)`` array), and its degrees of freedom (sum of seeds - 1;
    0 = not estimable).

    The spread of the per-seed means holds that shift plus the per-image seed noise averaged
    over the images (interaction/N); the latter is already in the image bootstrap (which
    resamples seed-averaged images), so it is estimated from the two-way residuals and taken
    out, as in a two-way random-effects ANOVA (floored at 0)."""
    ss_means = ss_resid = 0.0
    df = df_resid = 0
    n_images = None
    for a in arms:
        a = np.asarray(a, float)
        if a.shape[0] < 2:
            continue
        m = a.mean(axis=1)
        ss_means += float(((m - m.mean()) ** 2).sum())
        resid = a - m[:, None] - a.mean(axis=0)[None, :] + a.mean()
        ss_resid += float((resid ** 2).sum())
        df += a.shape[0] - 1
        df_resid += (a.shape[0] - 1) * (a.shape[1] - 1)
        n_images = a.shape[1]
    if not df:
        return 0.0, 0
    interaction = ss_resid / df_resid if df_resid else 0.0
    return max(0.0, ss_means / df - interaction / n_images), df


def _replicates(per_image: np.ndarray, seed_se: float, seed_df: int, n_boot: int,
                rng: np.random.Generator) -> np.ndarray:
    """Bootstrap replicates of the mean of ``per_image`` (images resampled with replacement),
    each plus a seed deviation ``seed_se * T(seed_df)`` (none when ``seed_df`` is 0)."""
    n = len(per_image)
    idx = rng.integers(0, n, size=(n_boot, n))
    reps = per_image[idx].mean(axis=1)
    if seed_df > 0 and seed_se > 0:
        reps = reps + seed_se * rng.standard_t(seed_df, size=n_boot)
    return reps


def _interval(reps: np.ndarray, level: float) -> tuple[float, float]:
    a = (1 - level) / 2
    lo, hi = np.quantile(reps, [a, 1 - a])
    return float(lo), float(hi)


def _as_array(runs) -> np.ndarray:
    a = np.atleast_2d(np.asarray(runs, float))
    if a.size == 0 or a.shape[1] == 0:
        raise ValueError("no images to compute an interval on")
    return a


def arm_interval(runs, level: float = 0.95, n_boot: int = 4000, rng_seed: int = 0,
                 seed_spread: tuple[float, int] | None = None) -> dict:
    """An arm's mean with its ``level`` interval.

    ``runs``: one per-image array per seed, aligned on the same images (or a ``(seeds,
    images)`` array). Images are bootstrapped (the same images for every seed); the seed part
    is ``sqrt(var/S) * T(df)`` with the between-seed variance of the arm's own seed means, or
    ``seed_spread=(var, df)`` pooled over several arms (see :func:`seed_variance`)."""
    a = _as_array(runs)
    var, df = seed_spread if seed_spread is not None else seed_variance([a])
    se = float(np.sqrt(var / a.shape[0]))
    rng = np.random.default_rng(rng_seed)
    lo, hi = _interval(_replicates(a.mean(axis=0), se, df, n_boot, rng), level)
    return {"mean": float(a.mean()), "lo": lo, "hi": hi, "n_images": a.shape[1], "n_seeds": a.shape[0],
            "seed_df": df, "seed_se": se, "seed_part": df > 0}


def paired_difference(arm_runs, control_runs, level: float = 0.95, n_boot: int = 4000,
                      rng_seed: int = 0, seed_spread: tuple[float, int] | None = None) -> dict:
    """Arm minus control, paired over bench images, with its ``level`` interval.

    Both arguments: per-image arrays per seed, every one aligned on the same images. The
    per-image difference of the seed-averaged scores is bootstrapped over images; the seed
    part is ``sqrt(var * (1/S_arm + 1/S_control)) * T(df)`` with the between-seed variance
    pooled over the two arms (or ``seed_spread=(var, df)`` pooled over more). ``beyond_noise``
    only when the interval excludes 0."""
    a, c = _as_array(arm_runs), _as_array(control_runs)
    if a.shape[1] != c.shape[1]:
        raise ValueError(f"arm has {a.shape[1]} images, control {c.shape[1]}: a paired difference "
                         "needs the same images in both")
    var, df = seed_spread if seed_spread is not None else seed_variance([a, c])
    se = float(np.sqrt(var * (1 / a.shape[0] + 1 / c.shape[0])))
    rng = np.random.default_rng(rng_seed)
    d = a.mean(axis=0) - c.mean(axis=0)
    lo, hi = _interval(_replicates(d, se, df, n_boot, rng), level)
    return {"diff": float(d.mean()), "lo": lo, "hi": hi, "half_width": (hi - lo) / 2,
            "beyond_noise": bool(lo > 0 or hi < 0), "n_images": a.shape[1],
            "n_seeds": [a.shape[0], c.shape[0]], "seed_df": df, "seed_se": se, "seed_part": df > 0}


def min_detectable(arm_runs, control_runs, level: float = 0.95, n_boot: int = 4000,
                   rng_seed: int = 0, seed_spread: tuple[float, int] | None = None) -> float:
    """The smallest arm-minus-control difference this design calls real at ``level``: the
    half-width of the paired difference's interval (an observed difference beyond it has an
    interval that excludes 0). It depends on the noise, not on the difference itself."""
    return paired_difference(arm_runs, control_runs, level, n_boot, rng_seed, seed_spread)["half_width"]


# --------------------------------------------------------------------------- summaries

def _rounded(d: dict, k: int = 4) -> dict:
    return {key: round(v, k) if isinstance(v, float) else v for key, v in d.items()}


def summarise(arms: dict, control: str | None, metric_of_bench: dict, level: float = 0.95,
              n_boot: int = 4000, rng_seed: int = 0, min_images: int = 5) -> dict:
    """Intervals per arm and group, differences against ``control`` and the minimum detectable
    difference per group.

    ``arms``: arm -> list of :class:`Scores` (one per seed); ``metric_of_bench``: bench -> the
    metric judged there (e.g. ``{"doc": "ned", "synth": "ned", "general": "psnr"}``). The seed
    variance of each group is pooled over all arms. Groups of fewer than ``min_images`` images
    get no interval (a bootstrap of 1-4 images says nothing); ``too_few_images`` lists them.
    Returns ``{"arms": {arm: {bench: {group: interval}}}, "vs_control": {arm: {bench: {group:
    difference}}}, "min_detectable": {bench: {group: largest half-width over the comparisons}},
    "seed_df": {bench: {group: df}}, "seeds": {arm: n}, "too_few_images": [...]}``."""
    out = {"level": level, "n_boot": n_boot, "control": control, "metric_of_bench": dict(metric_of_bench),
           "seeds": {a: len(r) for a, r in arms.items()}, "arms": {}, "vs_control": {},
           "min_detectable": {}, "seed_df": {}, "too_few_images": []}
    first = next(iter(arms.values()))[0]
    order = list(metric_of_bench)
    for bench, group, sel in sorted(groups(first), key=lambda g: order.index(g[0]) if g[0] in order else len(order)):
        metric = metric_of_bench.get(bench)
        if metric is None:
            continue
        data = {a: align([s.select(**sel) for s in runs], metric) for a, runs in arms.items()}
        n = min(d.shape[1] for d in data.values())
        if n == 0:
            continue            # the metric is not measured here (NED on photos)
        if n < min_images:
            out["too_few_images"].append(f"{bench}/{group} ({n})")
            continue
        pooled = seed_variance(list(data.values()))
        out["seed_df"].setdefault(bench, {})[group] = pooled[1]
        for a, d in data.items():
            iv = arm_interval(d, level, n_boot, rng_seed, seed_spread=pooled)
            out["arms"].setdefault(a, {}).setdefault(bench, {})[group] = _rounded(iv)
        if control not in data:
            continue
        for a, d in data.items():
            if a == control:
                continue
            diff = paired_difference(d, data[control], level, n_boot, rng_seed, seed_spread=pooled)
            out["vs_control"].setdefault(a, {}).setdefault(bench, {})[group] = _rounded(diff)
            md = out["min_detectable"].setdefault(bench, {})
            md[group] = round(max(md.get(group, 0.0), diff["half_width"]), 4)
    return out


def verdict_text(diff: dict, digits: int = 3) -> str:
    """'beyond noise' or 'within noise, interval ±x' for a :func:`paired_difference` result."""
    if diff["beyond_noise"]:
        return "beyond noise"
    return f"within noise, interval ±{diff['half_width']:.{digits}f}"
