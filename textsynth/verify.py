"""`textsynth verify DIR`: check every shard of an output directory.

For each completion marker: it is well-formed, the tar and parquet exist, their checksums
match the marker, the tar reads to the end, its samples (key groups) equal the parquet's rows
and the marker's count. The dir is compared against the job's plan (a synth job's follows from
its ``config.yaml``, a curate job's is in ``_plan.json``, both written before the first shard): planned
shards without a marker (an interrupted or failed job), a missing ``stats.json``, ``shards.json``
or card, and shards the plan does not list (left by an earlier, larger run) are reported. So are
shards without a marker and temporary files that an interrupted write left anywhere in the dir.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from itertools import islice

import pyarrow.fs as pafs

import yaml

from textsynth.shards import (FINISHED, TMP_SUFFIX, filesystem, index_path, is_count, parquet_from_bytes,
                              parse_marker, read_bytes, read_job_config, read_plan)


def verify(out: str) -> list[str]:
    """Problems found (empty list = all good)."""
    fs, root = filesystem(out)
    problems = []
    markers = fs.get_file_info(pafs.FileSelector(f"{root}/_completions", allow_not_found=True))
    names = sorted(i.base_name[:-5] for i in markers if i.base_name.endswith(".json"))
    try:
        planned = _planned(fs, root)
    except ValueError as e:
        planned, problems = None, [str(e)]
    if not names and planned is None:
        return [*problems, f"{out}: no completion markers (not a textsynth output, or nothing finished)"]
    for name in names:
        problems += _check_shard(fs, root, name)
    if planned is not None:
        problems += _against_plan(fs, root, names, planned)
    problems += _stray_files(fs, root, set(names))
    return problems


def _check_shard(fs, root: str, name: str) -> list[str]:
    """What is wrong with one shard that has a completion marker."""
    try:
        record = parse_marker(read_bytes(fs, f"{root}/_completions/{name}.json"))
    except ValueError as e:
        return [f"_completions/{name}.json: malformed completion marker ({e})"]
    tar_bytes = read_bytes(fs, f"{root}/shards/{name}.tar")
    pq_bytes = read_bytes(fs, index_path(root, name))
    if tar_bytes is None or pq_bytes is None:
        return [f"{name}: missing {'tar' if tar_bytes is None else 'parquet'}"]
    problems = []
    if hashlib.sha256(tar_bytes).hexdigest() != record["tar_sha256"]:
        problems.append(f"{name}.tar: checksum mismatch")
    if hashlib.sha256(pq_bytes).hexdigest() != record["parquet_sha256"]:
        problems.append(f"{name}.parquet: checksum mismatch")
    try:
        with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
            members = tar.getmembers()
    except (tarfile.TarError, EOFError, OSError) as e:
        return [*problems, f"{name}.tar: unreadable ({e})"]
    keys = {m.name.split(".", 1)[0] for m in members}
    try:
        index = parquet_from_bytes(pq_bytes)
    except Exception as e:
        return [*problems, f"{name}.parquet: unreadable ({e})"]
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
    return problems


def _against_plan(fs, root: str, names: list[str], planned: list[str]) -> list[str]:
    """Planned shards without a marker, unplanned ones, and the files a finished job has."""
    problems, done = [], set(names)
    missing = len(planned) - sum(n in planned for n in done)
    if missing:
        first = ", ".join(islice((n for n in planned if n not in done), 3))
        problems.append(f"incomplete: {missing} of {len(planned)} shards missing "
                        f"(e.g. {first}); rerun the same command to finish the job")
    extra = sorted(n for n in done if n not in planned)
    if extra:
        problems.append(f"{len(extra)} shard(s) not in this job's plan (left by an earlier run "
                        f"with other parameters): {', '.join(extra[:5])}")
    for f in FINISHED:
        if read_bytes(fs, f"{root}/{f}") is None:
            problems.append(f"{f}: missing (the job did not finish)")
    return problems


def _stray_files(fs, root: str, names: set[str]) -> list[str]:
    """Temporary files anywhere in the output, and shard files without a marker."""
    problems = []
    everything = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    for info in everything:
        rel = info.path[len(root.rstrip("/")) + 1:]
        if info.type != pafs.FileType.File:
            continue
        if TMP_SUFFIX.search(info.base_name):
            problems.append(f"{rel}: leftover temporary file (an interrupted write; a rerun removes it)")
        elif rel.rpartition("/")[0] in ("shards", "index") and info.base_name.rsplit(".", 1)[0] not in names:
            problems.append(f"{rel}: no completion marker (unfinished shard)")
    return problems


class _Numbered:
    """The names ``{job}-{i:06d}`` for ``i`` below ``count``, in order, without listing them: a
    config.yaml may plan any number of shards."""

    def __init__(self, job: str, count: int):
        self.job, self.count = job, count

    def __len__(self) -> int:
        return self.count

    def __iter__(self):
        return (f"{self.job}-{i:06d}" for i in range(self.count))

    def __contains__(self, name: str) -> bool:
        job, _, i = name.rpartition("-")
        return job == self.job and i.isdigit() and i == f"{int(i):06d}" and int(i) < self.count


def _planned(fs, root: str):
    """Shard names the job planned (ordered; ``len`` and ``in`` are cheap): a synth job's follow
    from its config.yaml (as :func:`textsynth.shards.plan` makes them), a curate job's are in
    its plan file; None for outputs without a plan (benches). ValueError when malformed."""
    try:
        cfg = read_job_config(fs, root)
    except (ValueError, yaml.YAMLError) as e:
        raise ValueError(f"config.yaml: unreadable ({e})") from None
    if cfg is not None and not (isinstance(cfg, dict) and isinstance(cfg.get("job"), dict)):
        raise ValueError("config.yaml: not a textsynth job config (no 'job' mapping)")
    job = cfg.get("job") if cfg is not None else None
    if job is None or not {"name", "num_samples", "samples_per_shard"} <= set(job):
        names = read_plan(fs, root)
        return None if names is None else dict.fromkeys(names)
    n, per = job["num_samples"], job["samples_per_shard"]
    if not (is_count(n) and is_count(per) and n and per and isinstance(job["name"], str)):
        raise ValueError(f"config.yaml: job parameters are malformed (name {job['name']!r}, "
                         f"num_samples {n!r}, samples_per_shard {per!r})")
    return _Numbered(job["name"], len(range(0, n, per)))
