"""`textsynth synth`: a sharded synthesis job on Ray (embedded local Ray or a cluster).

The driver plans shard specs, claims the output dir (``shards.claim_output``: its config.yaml
gives the plan verify checks; temporary files an interrupted run left are removed), skips
shards whose completion marker and checksums are present (resume), and runs one Ray task per
missing shard. Each worker process loads fonts, corpora and backgrounds once (a per-process
cache keyed by the config) and reuses them for every shard it renders. Outputs are addressed
through pyarrow filesystems, so ``--out`` may be a local path or a URI such as
``s3://bucket/prefix``.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass


from textsynth.synthesis.generate import Stats, top_reasons
from textsynth.ray_driver import by_node, map_unordered, this_node
from textsynth.card import write_manifest
from textsynth.shards import (ShardSpec, atomic_write, claim_output, filesystem, plan, read_completion,
                              resolve_uri, write_shard)

_WORKER_RESOURCES: dict[str, object] = {}


def _config_key(cfg: dict) -> str:
    return hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()


def _resources(cfg: dict):
    """This process's Resources for ``cfg``: loaded on first use, then reused."""
    from textsynth.synthesis.resources import Resources

    key = _config_key(cfg)
    if key not in _WORKER_RESOURCES:
        _WORKER_RESOURCES.clear()
        _WORKER_RESOURCES[key] = Resources(cfg)
    return _WORKER_RESOURCES[key]


def make_shard(cfg: dict, out_uri: str, spec: ShardSpec) -> dict:
    """Render and publish one shard (runs inside a Ray worker, or inline)."""
    fs, root = filesystem(out_uri)
    return write_shard(_resources(cfg), spec, fs, root, node=this_node())


@dataclass
class JobResult:
    shards: int
    done_before: int
    failed: dict[int, str]
    stats: dict
    requested: int = 0
    min_yield: float = 0.0


def low_yield(samples: int, requested: int, min_yield: float, skips: dict) -> str | None:
    """An error message when fewer than ``min_yield`` of the requested samples were made."""
    if requested and samples < min_yield * requested:
        return (f"made {samples} of {requested} samples (below output.min_yield {min_yield:.0%}); "
                f"top skip reasons: {top_reasons(skips)}")
    return None


def run(cfg: dict, out: str, num_samples: int, samples_per_shard: int, job: str = "synth",
        address: str | None = None, max_retries: int = 2, progress: bool = True,
        task_timeout: float | None = 3600, overwrite: bool = False,
        num_cpus: int | None = None) -> JobResult:
    """Run (or resume) a synthesis job into ``out``; see the module docstring."""
    from tqdm import tqdm

    from textsynth.synthesis.resources import Resources

    out = resolve_uri(out)
    fs, root = filesystem(out)
    specs = plan(job, num_samples, samples_per_shard, cfg["seed"])
    # Fail fast on bad inputs (no fonts, empty corpus) before any work starts.
    checked = Resources(cfg)
    for note in checked.notes:
        print(f"warning: {note}", file=sys.stderr)
    corpus_skips = checked.corpus_skips
    del checked   # the driver renders nothing: don't hold fonts and corpora through the job
    resolved = {**cfg, "job": {"name": job, "num_samples": num_samples,
                               "samples_per_shard": samples_per_shard}}
    cleaned = claim_output(fs, root, out, resolved, overwrite, "synth")   # config.yaml gives the plan
    if cleaned:
        print(f"note: removed {cleaned} temporary file(s) an interrupted run left in {out}", file=sys.stderr)

    records = {s.index: read_completion(fs, root, s) for s in specs}
    todo = [s for s in specs if records[s.index] is None]
    done_before = len(specs) - len(todo)
    t0 = time.perf_counter()
    failed: dict[int, str] = {}
    events: list[dict] = []   # nodes lost mid-job (a cluster), with the shards retried elsewhere
    if todo:
        # Counts samples (planned per finished shard, so the total and ETA are exact); the
        # postfix shows shards and how many samples were actually made (skips excluded).
        bar = tqdm(total=num_samples, initial=sum(s.count for s in specs if records[s.index]),
                   unit="sample", disable=not progress, desc=f"synth {job}")
        samples = sum(r["samples"] for r in records.values() if r)
        shards_done = done_before
        for spec, record, error in map_unordered(make_shard, todo, cfg, out, address=address,
                                                 max_retries=max_retries, task_timeout=task_timeout,
                                                 num_cpus=num_cpus, events=events):
            if error:
                failed[spec.index] = error
            else:
                records[spec.index] = record
                samples += record["samples"]
            shards_done += 1
            bar.update(spec.count)
            bar.set_postfix(made=samples, shards=f"{shards_done}/{len(specs)}")
        bar.close()
    wall = time.perf_counter() - t0

    total = Stats()
    for r in records.values():
        if r:
            total.merge(Stats.from_dict(r["stats"]))
    new_samples = sum(records[s.index]["samples"] for s in todo if records[s.index])
    stats = {
        **total.as_dict(),
        "corpus_skips": corpus_skips,   # corpus lines left out at load, by reason
        "shards": len(specs), "shards_done": sum(1 for r in records.values() if r),
        "shards_failed": sorted(failed),
        # which node made which shard (this run's), and the nodes lost on the way
        "nodes": by_node((records[s.index].get("node", "local"), s.index) for s in todo if records[s.index]),
        "lost_nodes": [{**e, "retried": sorted(x.index for x in e["retried"])} for e in events],
        # Timing fields describe the last invocation only (they differ between runs).
        "timing": {"wall_seconds": round(wall, 3), "shards_this_run": len(todo) - len(failed),
                   "samples_this_run": new_samples,
                   "samples_per_s": round(new_samples / wall, 2) if wall > 0 else None},
    }
    atomic_write(fs, f"{root}/stats.json", json.dumps(stats, indent=1).encode())
    write_manifest(fs, root, job)
    return JobResult(len(specs), done_before, failed, stats, num_samples, cfg["output"]["min_yield"])


def summary(result: JobResult, out: str) -> str:
    """The lines ``textsynth synth`` prints at the end of a job: shards and samples made,
    skips by reason, and what to do when shards failed or the yield fell short."""
    s = result.stats
    lines = [f"{out}: {s['shards_done']}/{result.shards} shards, {s['samples']} samples "
             f"({result.done_before} shards were already done)",
             f"  skips: {s['skips'] or 'none'}",
             f"  templates: {s['templates']}; {s['mean_chars_per_sample']} characters and "
             f"{s['mean_ink_frac']:.1%} ink per sample",
             f"  this run: {s['timing']['samples_this_run']} samples in "
             f"{s['timing']['wall_seconds']} s ({s['timing']['samples_per_s']} samples/s)"]
    if result.failed:
        lines.append("  FAILED shards: " + ", ".join(f"{i} ({e})" for i, e in sorted(result.failed.items())))
    return "\n".join(lines)


def main_exit_code(result: JobResult) -> int:
    if result.failed:
        print(f"error: {len(result.failed)} shard(s) failed: {sorted(result.failed)}", file=sys.stderr)
        return 1
    msg = low_yield(result.stats["samples"], result.requested, result.min_yield, result.stats["skips"])
    if msg:
        print(f"error: {msg}", file=sys.stderr)
        return 1
    return 0
