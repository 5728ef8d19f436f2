"""Human review of a bench, the report's fourth construction stage (§5.2): people look at
every sample and prune the blurred, redundant or blank ones.

The gallery's Review tab records one decision per sample in the browser and downloads them
as a file (the server stays read-only)::

    {"format": "textsynth-review/1", "dataset": "bench", "bench_id": "3f2a...",
     "decisions": {"bench-000000-000007": "blurred", ...}, "counts": {...}, "saved_at": "..."}

`textsynth bench prune` applies such a file: it checks the decisions were made on this very
bench (its :func:`bench_id`), drops what was marked, keeps ``keep`` and undecided samples, and
writes a new bench whose stats.json, shards.json and dataset card record the review. The new
bench goes to a dir apart from the reviewed one; ``--overwrite`` replaces only an earlier bench
(``shards.check_replaceable``).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from pathlib import Path

from textsynth.config import read_json
from textsynth.evaluation.run import bench_members

FORMAT = "textsynth-review/1"
DECISIONS = ("keep", "blurred", "redundant", "blank")
DROP = {"blurred", "redundant", "blank"}


def bench_id(bench_dir: str | Path) -> str:
    """A bench's identity: sha256 over its sorted "key:sha256(image bytes)" lines, 16 hex."""
    return bench_id_of(bench_members(bench_dir))


def bench_id_of(samples) -> str:
    """bench_id of ``(key, image name, image bytes, meta)`` tuples (prune has them in memory)."""
    lines = sorted(f"{key}:{hashlib.sha256(image).hexdigest()}" for key, _, image, _ in samples)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def load_decisions(path: str | Path) -> dict:
    """A decisions file, validated: a ValueError names what is wrong and where."""
    path = Path(path)
    doc = read_json(path, "decisions file")
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("decisions"), dict):
        raise ValueError(f"{path}: not a review decisions file (expected {{\"format\": \"{FORMAT}\", "
                         "\"decisions\": {...}}, as the gallery's Review tab downloads)")
    for key, value in doc["decisions"].items():
        if value not in DECISIONS:
            raise ValueError(f"{path}: decision {value!r} for {key!r} is not one of {', '.join(DECISIONS)}")
    for key in ("bench_id", "dataset", "saved_at"):     # copied into the pruned bench's records
        if doc.get(key) is not None and not isinstance(doc[key], str):
            raise ValueError(f"{path}: '{key}' must be a string, got {doc[key]!r}")
    return doc


def prune(bench: str | Path, decisions: str | Path, out: str | Path, overwrite: bool = False, log=print) -> dict:
    """Write ``out``: ``bench`` without the samples the review marked blurred, redundant or
    blank. Everything is checked before anything is written."""
    from textsynth.shards import check_apart, check_replaceable, filesystem, remove_output

    bench, out = Path(bench), Path(out)
    doc = load_decisions(decisions)
    if out.resolve() == bench.resolve():
        raise ValueError(f"--out {out} is the bench itself: write the pruned bench to a new dir")
    check_apart(str(out), [str(bench)])   # nor a dir inside it or around it
    fs, root = filesystem(str(out))
    replace = out.exists() and (not out.is_dir() or any(out.iterdir()))
    if replace and not overwrite:
        raise ValueError(f"--out {out} exists and is not empty (pass --overwrite to replace it)")
    if replace:
        check_replaceable(fs, root, str(out), "bench")
    samples = list(bench_members(bench))
    before = bench_id_of(samples)
    if doc.get("bench_id") and doc["bench_id"] != before:
        raise ValueError(f"{decisions}: the decisions were made on another bench (bench_id {doc['bench_id']}); "
                         f"{bench} is {before}")
    keys = {key for key, *_ in samples}
    unknown = sorted(set(doc["decisions"]) - keys)
    if unknown:
        raise ValueError(f"{decisions}: {len(unknown)} decision(s) name samples that are not in {bench}, "
                         f"e.g. {unknown[:3]}")

    decided = doc["decisions"]
    kept = [(key, image, data, meta) for key, image, data, meta in samples if decided.get(key) not in DROP]
    if not kept:
        raise ValueError(f"{decisions}: every sample is marked for removal; nothing would be left")
    undecided = len(keys - set(decided))
    if undecided:
        log(f"warning: {undecided} of {len(keys)} samples have no decision; they are kept")
    if not doc.get("bench_id"):
        log(f"warning: {decisions} names no bench_id; checked by sample keys only")
    stats_path = bench / "stats.json"
    stats = read_json(stats_path, "bench stats") if stats_path.is_file() else {}
    if not isinstance(stats, dict):
        raise ValueError(f"{stats_path}: not a bench's stats.json (expected a JSON object)")
    # Written next to ``out`` and renamed into place: a failure leaves no half-written bench.
    tmp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        review = _write(bench, Path(decisions).name, doc, samples, kept, before, undecided, stats, tmp)
        if replace:  # only what a bench holds (checked above), then the emptied dir
            remove_output(fs, root, "bench")
            out.rmdir()
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return review


def _write(bench: Path, decisions_name: str, doc: dict, samples: list, kept: list, before: str, undecided: int,
           stats: dict, root: Path) -> dict:
    """The pruned bench in ``root``: one shard (as `bench build` writes), stats.json, manifest."""
    from textsynth.card import write_manifest
    from textsynth.shards import atomic_write, filesystem, pack, publish

    fs, root = filesystem(str(root))
    publish(fs, root, "bench-000000", *pack(kept), len(kept), pruned_from=str(bench))
    counts = Counter(doc["decisions"].values())
    review = {"decisions_file": decisions_name, "source_bench": str(bench), "bench_id_before": before,
              "bench_id_after": bench_id_of(kept), "samples_before": len(samples), "samples_after": len(kept),
              "counts": {k: counts[k] for k in DECISIONS if counts[k]}, "undecided_kept": undecided,
              "reviewed_dataset": doc.get("dataset"), "saved_at": doc.get("saved_at")}
    # The original stats (filtering ledger, pages, ...) stay; what counts samples is redone.
    stats = {**stats, "samples": len(kept), "by_lang": dict(Counter(m.get("lang") for *_, m in kept)),
             "bench_id": review["bench_id_after"], "review": review}
    if "by_data_source" in stats:
        stats["by_data_source"] = dict(Counter(m.get("origin", {}).get("data_source", "unknown") for *_, m in kept))
    atomic_write(fs, f"{root}/stats.json", json.dumps(stats, indent=1, ensure_ascii=False).encode())
    removed = ", ".join(f"{k} {counts[k]}" for k in DECISIONS if k in DROP)
    write_manifest(fs, root, "bench", extra={"review": review},
                   notes=f"## Human review\n\nPruned from `{bench.name}` with `{decisions_name}`: "
                         f"{len(kept)} of {len(samples)} samples kept; removed: {removed}; "
                         f"{undecided} undecided (kept).\n")
    return review
