"""`textsynth curate`: the curation job on Ray, resumable by input partition.

Phase 1 (Ray tasks, one per partition of input files): the filter cascade writes the
partition's candidates and rejects under ``_work/`` and then its completion marker. A rerun
skips partitions whose marker matches the same inputs, config and file checksums.

Phase 2 (the driver, cheap: metadata only plus copying bytes): exact duplicates across the
whole job and near-duplicates within each category (n-gram overlap, perceptual hash) are
dropped from the candidates, keeping the crop with the most characters; then every partition
is published as ``shards/{dataset}-{index:06d}`` (tar + parquet + marker, as in synthesis)
and ``rejects/{dataset}-{index:06d}.parquet`` (+ a tar of example crops). Phase 2 is a pure
function of the phase-1 files, so it is simply redone on every run.

Output (docs/architecture.md §3): shards/, rejects/, _completions/, _work/, config.yaml, stats.json,
and _plan.json (the shard names the job will write, one per partition, recorded before the first
one: what ``textsynth verify`` checks the dir against). A malformed partition marker counts as none.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile
import time
from collections import Counter
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from textsynth.curation import dedup, ingest
from textsynth.curation.cascade import Cascade, PartitionResult, RejectRow
from textsynth.ray_driver import by_node, map_unordered, this_node
from textsynth.shardio import public_uri
from textsynth.synthesis.render import encode, encode_output
from textsynth.card import write_manifest
from textsynth.shards import (atomic_write, claim_output, filesystem, is_count, is_number_map,
                              make_output_dirs, pack, parquet_from_bytes, parse_marker, publish,
                              read_bytes, resolve_uri, tar_member)

_WORKER_CASCADE: dict[str, Cascade] = {}


def config_key(cfg: dict) -> str:
    return hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()


def _cascade(cfg: dict) -> Cascade:
    """This worker process's cascade (and OCR model), built once per config."""
    key = config_key(cfg)
    if key not in _WORKER_CASCADE:
        _WORKER_CASCADE.clear()
        _WORKER_CASCADE[key] = Cascade(cfg)
    return _WORKER_CASCADE[key]


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


# ---------------------------------------------------------------- phase 1: one partition

def _encode(img, out: dict) -> tuple[str, bytes]:
    return out["format"], encode_output(img, out)


def _reject_files(rows: list[RejectRow], out: dict) -> tuple[bytes, bytes]:
    """The rejects parquet (one row per reject) and a tar of example crops, at most
    ``reject_examples_per_reason`` per reason, as JPEG (they are for looking at)."""
    per_reason: Counter = Counter()
    score_names = sorted({k for r in rows for k in r.scores})
    records, tar_buf = [], io.BytesIO()
    with tarfile.open(fileobj=tar_buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for r in rows:
            image = None
            if r.image is not None and per_reason[r.reason] < out["reject_examples_per_reason"]:
                per_reason[r.reason] += 1
                image = f"{r.key}.jpg"
                tar_member(tar, image, encode(r.image, "jpg", jpeg_quality=90))
            records.append({"key": r.key, "image": image, "reason": r.reason, "detail": r.detail,
                            "origin": json.dumps(r.origin, ensure_ascii=False, sort_keys=True),
                            **{f"score_{k}": (float(r.scores[k]) if k in r.scores else None)
                               for k in score_names}})
    schema = pa.schema([("key", pa.string()), ("image", pa.string()), ("reason", pa.string()),
                        ("detail", pa.string()), ("origin", pa.string()),
                        *[(f"score_{k}", pa.float64()) for k in score_names]])
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(records, schema=schema), buf, compression="zstd")
    return buf.getvalue(), tar_buf.getvalue()


def _candidate_files(result: PartitionResult, out: dict) -> tuple[bytes, bytes, bytes]:
    """Candidates as a tar + parquet (the shard format) and the dedup keys parquet."""
    samples, keys = [], []
    for c in result.candidates:
        fmt, data = _encode(c.image, out)
        samples.append((c.key, f"{c.key}.{fmt}", data, c.meta))
        keys.append({"key": c.key, "category": c.category, "chars": c.chars, "lang": c.meta["lang"],
                     "text": c.meta["text"], "phash": f"{dedup.phash(c.image):016x}",
                     "chash": dedup.content_hash(c.image)})
    tar_bytes, pq_bytes = pack(samples)
    schema = pa.schema([("key", pa.string()), ("category", pa.string()), ("chars", pa.int64()),
                        ("lang", pa.string()), ("text", pa.string()), ("phash", pa.string()),
                        ("chash", pa.string())])
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(keys, schema=schema), buf, compression="zstd")
    return tar_bytes, pq_bytes, buf.getvalue()


WORK_FILES = {"tar": "{p}.tar", "parquet": "{p}.parquet", "dedup": "{p}.dedup.parquet",
              "rejects": "{p}.rejects.parquet", "rejects_tar": "{p}.rejects.tar"}


def curate_partition(cfg: dict, out_uri: str, dataset: str, part: ingest.Partition) -> dict:
    """Phase 1 for one partition (runs in a Ray worker); returns its completion record."""
    fs, root = filesystem(out_uri)
    t0 = time.perf_counter()
    result = _cascade(cfg).run(dataset, part)
    files = dict(zip(("tar", "parquet", "dedup"), _candidate_files(result, cfg["output"])))
    files["rejects"], files["rejects_tar"] = _reject_files(result.rejects, cfg["output"])
    name = part.name
    for kind, data in files.items():
        atomic_write(fs, f"{root}/_work/{WORK_FILES[kind].format(p=name)}", data)
    record = {
        "partition": part.index, "sources": [s.uri for s in part.sources],
        "config": config_key(cfg), "candidates": len(result.candidates),
        "crops": result.counts["crops"], "stage_counts": dict(result.counts),
        "rejects": dict(Counter(r.reason for r in result.rejects)),
        "stage_seconds": {k: round(v, 3) for k, v in result.seconds.items()},
        "seconds": round(time.perf_counter() - t0, 3),
        "sha256": {kind: _sha(data) for kind, data in files.items()},
        "node": this_node(),
    }
    atomic_write(fs, f"{root}/_work/_completions/{name}.json", json.dumps(record, indent=1).encode())
    return record


def _sources(v) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


# What resume and phase 2 read off a partition marker (shards.parse_marker checks them).
PARTITION_FIELDS = {
    "sources": ("a list of inputs", _sources), "config": ("a config hash", lambda v: isinstance(v, str)),
    "candidates": ("a count", is_count), "stage_counts": ("counts by stage", is_number_map),
    "stage_seconds": ("seconds by stage", is_number_map),
    "sha256": ("checksums of the partition's files", lambda v: isinstance(v, dict) and set(v) == set(WORK_FILES)),
}


def read_partition_marker(fs, root: str, cfg: dict, part: ingest.Partition) -> dict | None:
    """The partition's record if it finished with these inputs and config and its files
    still match their checksums; None (the partition is redone) otherwise, a malformed
    marker included."""
    name = part.name
    try:
        record = parse_marker(read_bytes(fs, f"{root}/_work/_completions/{name}.json"), PARTITION_FIELDS)
    except ValueError:
        return None
    if record["sources"] != [s.uri for s in part.sources] or record["config"] != config_key(cfg):
        return None
    for kind, digest in record["sha256"].items():
        data = read_bytes(fs, f"{root}/_work/{WORK_FILES[kind].format(p=name)}")
        if data is None or _sha(data) != digest:
            return None
    return record


# ---------------------------------------------------------------- phase 2: dedup + publish

def cross_dedup(fs, root: str, parts: list[int], cfg: dict) -> dict[str, tuple[str, str]]:
    """{dropped key: (reason, kept key)} over all finished partitions."""
    rows = []
    for p in parts:
        rows += parquet_from_bytes(read_bytes(fs, f"{root}/_work/part-{p:06d}.dedup.parquet")).to_pylist()
    ngram = cfg["dedup"]["ngram"]
    cands = [dedup.Candidate(r["key"], r["category"], r["chars"], dedup.ngrams(r["text"], ngram["zh"], ngram["en"]),
                             int(r["phash"], 16), r["chash"]) for r in rows]
    dropped = dedup.exact_duplicates(cands)
    rest = [c for c in cands if c.key not in dropped]
    near = dedup.near_duplicates(rest, cfg["dedup"]["category_threshold"], cfg["dedup"]["phash_max_distance"])
    dropped.update({k: (f"{reason}_category", other) for k, (reason, other) in near.items()})
    return dropped


def _tar_members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def publish_partition(fs, root: str, dataset: str, p: int, record: dict,
                      dropped: dict[str, tuple[str, str]], cfg: dict) -> dict:
    """Write the final shard and rejects of partition ``p``; returns counts."""
    name = f"part-{p:06d}"
    members = _tar_members(read_bytes(fs, f"{root}/_work/{name}.tar"))
    metas = {n[:-5]: json.loads(b) for n, b in members.items() if n.endswith(".json")}
    kept, dup_rows = [], []
    for key, meta in metas.items():  # tar order = candidate order
        image_name = next(n for n in members if n.startswith(key + ".") and not n.endswith(".json"))
        if key in dropped:
            reason, other = dropped[key]
            dup_rows.append((key, reason, other, meta, members[image_name]))
        else:
            kept.append((key, image_name, members[image_name], meta))
    tar_bytes, pq_bytes = pack(kept)
    shard = f"{dataset}-{p:06d}"
    publish(fs, root, shard, tar_bytes, pq_bytes, len(kept), partition=p, sources=record["sources"])

    # Rejects: phase-1 rows plus the cross-partition duplicates, with example pictures.
    rej_pq = read_bytes(fs, f"{root}/_work/{name}.rejects.parquet")
    rej_tar = read_bytes(fs, f"{root}/_work/{name}.rejects.tar")
    rej = parquet_from_bytes(rej_pq).to_pylist()
    if dup_rows:
        import cv2
        import numpy as np

        extra = [RejectRow(k, reason, f"duplicates {other}", meta["origin"], meta["scores"],
                           cv2.cvtColor(cv2.imdecode(np.frombuffer(img, np.uint8), 1), cv2.COLOR_BGR2RGB))
                 for k, reason, other, meta, img in dup_rows]
        extra_pq, extra_tar = _reject_files(extra, cfg["output"])
        both = [parquet_from_bytes(b) for b in (rej_pq, extra_pq)]
        buf = io.BytesIO()
        pq.write_table(pa.concat_tables(both, promote_options="default"), buf, compression="zstd")
        rej_pq = buf.getvalue()
        rej += both[1].to_pylist()
        members = {**_tar_members(rej_tar), **_tar_members(extra_tar)}
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for n, b in members.items():
                tar_member(tar, n, b)
        rej_tar = buf.getvalue()
    atomic_write(fs, f"{root}/rejects/{shard}.parquet", rej_pq)
    atomic_write(fs, f"{root}/rejects/{shard}.tar", rej_tar)
    return {"kept": len(kept), "rejects": Counter(r["reason"] for r in rej)}


# ---------------------------------------------------------------- the job

def _check_ocr_models(ocr_cfg: dict) -> None:
    """Fail before any work when the OCR model files are missing (not once per partition)."""
    from pathlib import Path

    from textsynth import paths
    from textsynth.ocr import DET_NAME, REC_NAME, model_name

    base = Path(ocr_cfg["model_dir"]) if ocr_cfg["model_dir"] else paths.models_dir()
    model_name(Path(ocr_cfg["det_dir"]) if ocr_cfg["det_dir"] else base / DET_NAME)
    model_name(Path(ocr_cfg["rec_dir"]) if ocr_cfg["rec_dir"] else base / REC_NAME)


@dataclass
class CurateResult:
    partitions: int
    done_before: int
    failed: dict[int, str]
    stats: dict


def run(cfg: dict, inputs: list[str], out: str, dataset: str = "doc", address: str | None = None,
        max_retries: int = 2, progress: bool = True, task_timeout: float | None = 3600,
        overwrite: bool = False, num_cpus: int | None = None) -> CurateResult:
    """Run (or resume) a curation job over ``inputs`` into ``out``."""
    from tqdm import tqdm

    out = resolve_uri(out)
    sources = ingest.discover(inputs)
    if not sources:
        raise ValueError(f"no curatable files (pdf, images, html) under {inputs}")
    from textsynth.extras import check

    check("paddleocr", "pypdfium2", "datasketch", purpose="curation (OCR, PDFs, dedup)")
    _check_ocr_models(cfg["ocr"])
    parts = ingest.partitions(sources, cfg["ingest"]["files_per_partition"])
    fs, root = filesystem(out)
    # Inputs given as patterns are compared by the files they name.
    apart = [a for a in inputs if "{" not in a] + [s.uri for s in sources]
    recorded = [public_uri(a) for a in inputs]   # never a key a user put in a URI
    cleaned = claim_output(fs, root, out, {**cfg, "job": {"name": dataset, "inputs": recorded}}, overwrite,
                           "curate", [f"{dataset}-{p.index:06d}" for p in parts], sources=apart)
    if cleaned:
        print(f"note: removed {cleaned} temporary file(s) an interrupted run left in {out}", file=sys.stderr)
    make_output_dirs(fs, root, "rejects", "_work/_completions")

    records = {p.index: read_partition_marker(fs, root, cfg, p) for p in parts}
    todo = [p for p in parts if records[p.index] is None]
    done_before = len(parts) - len(todo)
    failed: dict[int, str] = {}
    events: list[dict] = []   # nodes lost mid-job (a cluster), with the partitions retried elsewhere
    t0 = time.perf_counter()
    if todo:
        # Counts inputs (files, URLs), the unit a user knows the total of; a partition's
        # inputs are counted when it finishes.
        bar = tqdm(total=len(sources), initial=sum(len(p.sources) for p in parts if records[p.index]),
                   unit="input", disable=not progress, desc=f"curate {dataset}")
        kept = sum(r["candidates"] for r in records.values() if r)
        for part, record, error in map_unordered(curate_partition, todo, cfg, out, dataset,
                                                 address=address, max_retries=max_retries,
                                                 task_timeout=task_timeout, num_cpus=num_cpus,
                                                 events=events):
            if error:
                failed[part.index] = f"{error} (inputs: {', '.join(s.uri for s in part.sources)})"
            else:
                records[part.index] = record
                kept += record["candidates"]
            bar.update(len(part.sources))
            bar.set_postfix(crops_passing=kept)
        bar.close()
    phase1 = time.perf_counter() - t0

    done = sorted(i for i, r in records.items() if r)
    dropped = cross_dedup(fs, root, done, cfg)
    kept, rejects = 0, Counter()
    for p in done:
        counts = publish_partition(fs, root, dataset, p, records[p], dropped, cfg)
        kept += counts["kept"]
        rejects += counts["rejects"]
    stage_seconds, stage_counts = Counter(), Counter()
    for p in done:
        stage_seconds.update(records[p]["stage_seconds"])
        stage_counts.update(records[p]["stage_counts"])
    stats = {
        "inputs": len(sources), "partitions": len(parts), "partitions_done": len(done),
        "partitions_failed": {str(k): v for k, v in sorted(failed.items())},
        "crops": stage_counts["crops"], "kept": kept,
        "rejects": dict(sorted(rejects.items())),
        "stage_counts": dict(stage_counts),
        "stage_seconds": {k: round(v, 3) for k, v in stage_seconds.items()},
        # which node curated which partition (this run's), and the nodes lost on the way
        "nodes": by_node((records[p.index].get("node", "local"), p.index) for p in todo if records[p.index]),
        "lost_nodes": [{**e, "retried": sorted(x.index for x in e["retried"])} for e in events],
        # Timing fields describe the last invocation only (they differ between runs).
        "timing": {"wall_seconds": round(time.perf_counter() - t0, 3),
                   "phase1_seconds": round(phase1, 3), "partitions_this_run": len(todo) - len(failed)},
    }
    atomic_write(fs, f"{root}/stats.json", json.dumps(stats, indent=1, ensure_ascii=False).encode())
    write_manifest(fs, root, dataset)
    return CurateResult(len(parts), done_before, failed, stats)


def summary(result: CurateResult, out: str) -> str:
    s = result.stats
    rej = ", ".join(f"{k} {v}" for k, v in sorted(s["rejects"].items(), key=lambda kv: -kv[1]))
    lines = [f"{out}: {s['partitions_done']}/{result.partitions} partitions "
             f"({result.done_before} already done), {s['crops']} crops -> {s['kept']} kept",
             f"  rejects: {rej or 'none'}",
             f"  time per stage (s, all workers): {s['stage_seconds']}",
             f"  this run: {s['timing']['wall_seconds']} s"]
    if result.failed:
        lines.append("  FAILED partitions: " + "; ".join(f"{i}: {e}" for i, e in sorted(result.failed.items())))
    return "\n".join(lines)


def main_exit_code(result: CurateResult) -> int:
    if result.failed:
        print(f"error: {len(result.failed)} partition(s) failed: {sorted(result.failed)}", file=sys.stderr)
        return 1
    s = result.stats
    if s["kept"] == 0:  # filters reject most crops by design, but none kept means bad inputs
        from textsynth.synthesis.generate import top_reasons

        print(f"error: kept 0 crops from {s['inputs']} input(s) ({s['crops']} crops); "
              f"top reject reasons: {top_reasons(s['rejects'])}", file=sys.stderr)
        return 1
    return 0
