"""`textsynth verify DIR`: check every shard of an output directory.

For each completion marker: the tar and parquet exist, their checksums match the marker,
the tar reads to the end, its samples (key groups) equal the parquet's rows and the
marker's count. Shards without a marker, stray temporary files, and shards a synth job's
plan (from its ``config.yaml``) does not list — left by an earlier, larger run — are reported
too.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pyarrow.fs as pafs

import yaml

from textsynth.shards import filesystem, index_path, parquet_from_bytes, plan, read_bytes


def verify(out: str) -> list[str]:
    """Problems found (empty list = all good)."""
    fs, root = filesystem(out)
    problems = []
    markers = fs.get_file_info(pafs.FileSelector(f"{root}/_completions", allow_not_found=True))
    names = sorted(i.base_name[:-5] for i in markers if i.base_name.endswith(".json"))
    if not names:
        return [f"{out}: no completion markers (not a textsynth output, or nothing finished)"]
    for name in names:
        record = json.loads(read_bytes(fs, f"{root}/_completions/{name}.json"))
        tar_bytes = read_bytes(fs, f"{root}/shards/{name}.tar")
        pq_bytes = read_bytes(fs, index_path(root, name))
        if tar_bytes is None or pq_bytes is None:
            problems.append(f"{name}: missing {'tar' if tar_bytes is None else 'parquet'}")
            continue
        if hashlib.sha256(tar_bytes).hexdigest() != record["tar_sha256"]:
            problems.append(f"{name}.tar: checksum mismatch")
        if hashlib.sha256(pq_bytes).hexdigest() != record["parquet_sha256"]:
            problems.append(f"{name}.parquet: checksum mismatch")
        try:
            with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
                members = tar.getmembers()
        except (tarfile.TarError, EOFError, OSError) as e:
            problems.append(f"{name}.tar: unreadable ({e})")
            continue
        keys = {m.name.split(".", 1)[0] for m in members}
        try:
            index = parquet_from_bytes(pq_bytes)
        except Exception as e:
            problems.append(f"{name}.parquet: unreadable ({e})")
            continue
        rows = index.num_rows
        if "image_offset" in index.column_names:  # readers seek by these: they must be right
            at = {m.name: (m.offset_data, m.size) for m in members}
            wrong = [r["image"] for r in index.select(["image", "image_offset", "image_size"]).to_pylist()
                     if at.get(r["image"]) != (r["image_offset"], r["image_size"])]
            if wrong:
                problems.append(f"{name}.parquet: {len(wrong)} image offsets do not match the tar "
                                f"(first: {wrong[0]})")
        if not (len(keys) == rows == record["samples"]):
            problems.append(f"{name}: {len(keys)} samples in tar, {rows} index rows, "
                            f"{record['samples']} in marker")
    planned = _planned(fs, root)
    if planned is not None:
        extra = sorted(set(names) - planned)
        if extra:
            problems.append(f"{len(extra)} shard(s) not in this job's plan (left by an earlier run "
                            f"with other parameters): {', '.join(extra[:5])}")
    shards = [*fs.get_file_info(pafs.FileSelector(f"{root}/shards", allow_not_found=True)),
              *fs.get_file_info(pafs.FileSelector(f"{root}/index", allow_not_found=True))]
    for info in shards:
        stem = info.base_name.rsplit(".", 1)[0]
        if ".tmp-" in info.base_name:
            problems.append(f"{info.base_name}: leftover temporary file (an interrupted write)")
        elif stem not in names:
            problems.append(f"{info.base_name}: no completion marker (unfinished shard)")
    return problems


def _planned(fs, root: str) -> set[str] | None:
    """Shard names a synth job's config.yaml plans; None for other outputs."""
    data = read_bytes(fs, f"{root}/config.yaml")
    cfg = (yaml.safe_load(data) or {}) if data else {}
    job = cfg.get("job", {})
    if not {"name", "num_samples", "samples_per_shard"} <= set(job):
        return None
    specs = plan(job["name"], job["num_samples"], job["samples_per_shard"], cfg.get("seed", 0))
    return {s.name for s in specs}
