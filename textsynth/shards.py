"""Shards: the unit of distributed work and of output (docs/architecture.md §2-3).

A :class:`ShardSpec` alone determines a shard's bytes. Writing is atomic: the tar and its
parquet index go to temporary names and are renamed into place, and only then is the
completion marker (with both checksums) written. A shard without a valid marker does not
exist as far as resume and verify are concerned.

Tar members get fixed metadata (mtime 0, uid/gid 0, no user names, mode 0644) in sample
order, so the same spec gives the same bytes on any machine.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time
import uuid
from dataclasses import asdict, dataclass

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import yaml

from textsynth.memory import give_back_memory
from textsynth.synthesis.generate import Stats, make_sample
from textsynth.synthesis.recipe import Skip
from textsynth.synthesis.render import encode_output
from textsynth.synthesis.text import count_chars
from textsynth.synthesis.resources import Resources


@dataclass(frozen=True)
class ShardSpec:
    job: str       # dataset name, the prefix of every file and key
    index: int
    seed: int
    count: int     # samples to attempt
    first: int     # global index of the shard's first sample

    @property
    def name(self) -> str:
        return f"{self.job}-{self.index:06d}"


def plan(job: str, num_samples: int, per_shard: int, seed: int) -> list[ShardSpec]:
    if num_samples < 1 or per_shard < 1:
        raise ValueError("num_samples and samples_per_shard must be positive")
    return [ShardSpec(job, i, seed, min(per_shard, num_samples - first), first)
            for i, first in enumerate(range(0, num_samples, per_shard))]


def tar_member(tar: tarfile.TarFile, name: str, data: bytes) -> int:
    """Append a member with fixed metadata; returns the byte offset of its data in the tar."""
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))
    return tar.offset - -(-len(data) // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE  # data ends padded


# One index schema for every output (synth, curate, bench): same columns, types and order,
# so pyarrow, pandas, duckdb and `datasets` read several outputs as one table. Nested
# metadata is typed (lines, origin, scores); the recipe stays JSON (its shape follows the
# renderer's layout code). ``score_*`` repeat the scores flat, for filters and the gallery.
SCORES = ("min_contrast", "ocr_chars", "ocr_lines", "chars_per_mpx", "ink_frac", "text_frac",
          "sharpness", "laplacian_var", "tenengrad", "blockiness",
          "det_lines", "det_chars_min", "det_chars_max")   # curate's detection-first estimate
_INTS = pa.list_(pa.int32())
LINE = pa.struct([("text", pa.string()), ("bbox", _INTS), ("font", pa.string()),
                  ("px", pa.float64()), ("score", pa.float64())])
# The source block of a bench sample: an OmniDocBench annotation (anno_id, category_type,
# poly) or a block of detected lines (index, lines, bbox).
BLOCK = pa.struct([("anno_id", pa.int64()), ("category_type", pa.string()), ("poly", pa.list_(pa.float64())),
                   ("index", pa.int32()), ("lines", pa.int32()), ("bbox", pa.list_(pa.float64()))])
ORIGIN = pa.struct([("file", pa.string()), ("page", pa.int32()), ("box", _INTS),
                    ("category", pa.string()), ("dpi", pa.float64()), ("scale", pa.float64()),
                    ("viewport_width", pa.int32()), ("background", pa.string()),
                    ("crop", _INTS), ("color", _INTS),
                    # bench samples: page attributes, source line height, source block
                    ("data_source", pa.string()), ("layout", pa.string()), ("language", pa.string()),
                    ("line_px", pa.float64()), ("line_pt", pa.float64()), ("from_key", pa.string()),
                    ("key", pa.string()),   # curate: the sample's key within its input shard (file)
                    ("block", BLOCK)])
INDEX_SCHEMA = pa.schema(
    [("key", pa.string()), ("image", pa.string()), ("image_offset", pa.int64()),
     ("image_size", pa.int64()), ("source", pa.string()), ("lang", pa.string()),
     ("width", pa.int32()), ("height", pa.int32()), ("text", pa.string()),
     ("char_px", pa.float64()), ("size_bucket", pa.string()), ("template", pa.string()),
     ("num_lines", pa.int32()), ("num_chars", pa.int32()),
     ("fonts", pa.list_(pa.string())), ("lines", pa.list_(LINE)), ("origin", ORIGIN),
     ("scores", pa.struct([(k, pa.float64()) for k in SCORES])),
     *[(f"score_{k}", pa.float64()) for k in SCORES], ("recipe", pa.string())])
# The per-sample JSON in the tars (the sample contract) in the same types; lines may carry
# per-character boxes there (``output.char_boxes``), which the index leaves out.
CHAR = pa.struct([("text", pa.string()), ("bbox", _INTS)])
SAMPLE_JSON = pa.struct(
    [INDEX_SCHEMA.field(k) for k in ("source", "lang", "width", "height", "text", "char_px",
                                     "size_bucket", "template")]
    + [("lines", pa.list_(pa.struct([*LINE, ("chars", pa.list_(CHAR))])))]
    + [INDEX_SCHEMA.field(k) for k in ("origin", "scores", "recipe")])
_TOP = {f.name for f in SAMPLE_JSON}


def fonts_of(lines: list[dict]) -> list[str]:
    """The distinct faces a sample's lines are drawn with (none for OCR'd doc lines)."""
    return sorted({ln["font"] for ln in lines if ln.get("font")})


def _fields(value: dict | None, struct: pa.StructType, what: str) -> dict | None:
    if value is None:
        return None
    unknown = set(value) - {f.name for f in struct}
    if unknown:
        raise ValueError(f"{what} has fields the index schema lacks: {sorted(unknown)} "
                         f"(add them to textsynth.shards.INDEX_SCHEMA)")
    return value


def index_row(key: str, meta: dict, image_name: str, image_offset: int, image_size: int) -> dict:
    """One index row: key, image member and where its bytes sit in the tar (so readers such
    as the gallery can seek straight to them), and the metadata in INDEX_SCHEMA's types."""
    unknown = set(meta) - _TOP
    if unknown:
        raise ValueError(f"sample metadata has keys the index schema lacks: {sorted(unknown)}")
    lines = meta.get("lines") or []
    scores = _fields(meta.get("scores") or {}, INDEX_SCHEMA.field("scores").type, "scores")
    return {
        "key": key, "image": image_name, "image_offset": image_offset, "image_size": image_size,
        **{k: meta.get(k) for k in ("source", "lang", "width", "height", "text", "char_px",
                                    "size_bucket", "template")},
        "num_lines": len(lines), "num_chars": count_chars(meta.get("text") or ""),
        "fonts": fonts_of(lines),
        "lines": [_fields({k: v for k, v in ln.items() if k != "chars"}, LINE, "a line")
                  for ln in lines],   # per-character boxes stay in the tar's JSON
        "origin": _fields(meta.get("origin"), ORIGIN, "origin"),
        "scores": scores, **{f"score_{k}": scores.get(k) for k in SCORES},
        "recipe": json.dumps(meta["recipe"], sort_keys=True) if meta.get("recipe") else None,
    }


def pack(samples) -> tuple[bytes, bytes]:
    """A tar and its parquet index from ``(key, image_name, image_bytes, meta)`` tuples,
    written in the given order with fixed member metadata."""
    tar_buf, rows = io.BytesIO(), []
    with tarfile.open(fileobj=tar_buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for key, image_name, image_bytes, meta in samples:
            offset = tar_member(tar, image_name, image_bytes)
            tar_member(tar, f"{key}.json",
                       json.dumps(meta, ensure_ascii=False, sort_keys=True).encode())
            rows.append(index_row(key, meta, image_name, offset, len(image_bytes)))
    pq_buf = io.BytesIO()
    with pq.ParquetWriter(pq_buf, INDEX_SCHEMA, compression="zstd") as writer:
        if rows:  # an empty shard's index has no row group (a 0-row group trips readers)
            writer.write_table(pa.Table.from_pylist(rows, schema=INDEX_SCHEMA))
    return tar_buf.getvalue(), pq_buf.getvalue()


def render_shard(res: Resources, spec: ShardSpec) -> tuple[bytes, bytes, Stats]:
    """Render a shard in memory: (tar bytes, parquet bytes, stats)."""
    out = res.cfg["output"]
    fmt = out["format"]
    stats = Stats()

    def samples():
        for i in range(spec.count):
            try:
                img, meta = make_sample(res, spec.seed, spec.first + i, stats)
            except Skip:
                continue  # counted in stats.skips; the key is simply absent
            key = f"{spec.name}-{i:06d}"
            yield key, f"{key}.{fmt}", encode_output(img, out), meta

    tar_bytes, pq_bytes = pack(samples())
    give_back_memory()   # a shard's transient canvases and photo decodes, not kept resident
    return tar_bytes, pq_bytes, stats


def resolve_uri(uri: str) -> str:
    """A local path made absolute (Ray workers run elsewhere; pyarrow needs absolute
    paths), a URI such as ``s3://bucket/prefix`` unchanged."""
    import os

    return uri if "://" in uri else os.path.abspath(uri)


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem and root path of an output dir or URI."""
    return pafs.FileSystem.from_uri(resolve_uri(uri))


INDEX_DIR = "index"  # apart from the tars, so a folder of parquet reads without flags


def make_output_dirs(fs: pafs.FileSystem, root: str, *extra: str) -> None:
    """The folders ``publish`` writes into (plus ``extra``); idempotent and cheap, so
    ``publish`` makes them itself and a shard can be written with nothing set up first."""
    for d in ("shards", INDEX_DIR, "_completions", *extra):
        fs.create_dir(f"{root}/{d}", recursive=True)


def index_path(root: str, name: str) -> str:
    return f"{root}/{INDEX_DIR}/{name}.parquet"


def read_bytes(fs: pafs.FileSystem, path: str) -> bytes | None:
    """The file's bytes, or None when it is missing or unreadable."""
    try:
        with fs.open_input_stream(path) as f:
            return f.read()
    except (FileNotFoundError, OSError):
        return None


def parquet_from_bytes(data: bytes) -> pa.Table:
    """A parquet file held in memory, as a table. Not ``pq.read_table(io.BytesIO(...))``:
    that path (the datasets API over a Python file object) makes the interpreter abort at exit
    in a good share of runs here (pyarrow 25 and 26), after the work is done."""
    return pq.ParquetFile(pa.BufferReader(data)).read()


def atomic_write(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    with fs.open_output_stream(tmp) as f:
        f.write(data)
    fs.move(tmp, path)


def _differences(old, new, prefix: str = "") -> list[str]:
    """Keys whose values differ between two plain-data configs, as readable lines."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [d for k in sorted(set(old) | set(new), key=str)
                for d in _differences(old.get(k), new.get(k), f"{prefix}{k}.")]
    return [] if old == new else [f"{prefix.rstrip('.')}: {old!r} -> {new!r}"]


JOB_DIRS = ("shards", "index", "_completions", "rejects", "_work")


def claim_output(fs: pafs.FileSystem, root: str, out: str, resolved: dict, overwrite: bool) -> None:
    """Make ``out`` this job's output: its ``config.yaml`` records the job's parameters. A dir
    that holds a *different* job is refused (its shards would be mixed with ours, or silently
    rewritten) unless ``overwrite``, which first removes everything the old job wrote."""
    resolved = yaml.safe_load(yaml.safe_dump(resolved, allow_unicode=True))  # as read back
    old = read_bytes(fs, f"{root}/config.yaml")
    diff = _differences(yaml.safe_load(old) or {}, resolved) if old is not None else []
    if diff and not overwrite:
        more = f" and {len(diff) - 4} more" if len(diff) > 4 else ""
        raise ValueError(f"{out} holds the output of a different job ({'; '.join(diff[:4])}{more}); "
                         f"rerun with the same parameters to resume it, choose another --out, "
                         f"or add --overwrite to replace it")
    if diff:
        for d in JOB_DIRS:
            if fs.get_file_info(f"{root}/{d}").type != pafs.FileType.NotFound:
                fs.delete_dir(f"{root}/{d}")
        for f in ("stats.json", "config.yaml", "shards.json", "README.md"):
            if fs.get_file_info(f"{root}/{f}").type != pafs.FileType.NotFound:
                fs.delete_file(f"{root}/{f}")
    fs.create_dir(root, recursive=True)
    atomic_write(fs, f"{root}/config.yaml",
                 yaml.safe_dump(resolved, sort_keys=True, allow_unicode=True).encode())


def publish(fs: pafs.FileSystem, root: str, name: str, tar_bytes: bytes, pq_bytes: bytes,
            samples: int, **record) -> dict:
    """Write ``shards/{name}.tar`` and ``index/{name}.parquet`` atomically, then the
    completion marker holding their checksums and ``record``; returns the marker's record."""
    make_output_dirs(fs, root)
    atomic_write(fs, f"{root}/shards/{name}.tar", tar_bytes)
    atomic_write(fs, index_path(root, name), pq_bytes)
    record = {
        **record,
        "samples": samples,
        "tar_sha256": hashlib.sha256(tar_bytes).hexdigest(),
        "tar_bytes": len(tar_bytes),
        "parquet_sha256": hashlib.sha256(pq_bytes).hexdigest(),
    }
    atomic_write(fs, f"{root}/_completions/{name}.json", json.dumps(record, indent=1).encode())
    return record


def write_shard(res: Resources, spec: ShardSpec, fs: pafs.FileSystem, root: str) -> dict:
    """Render and publish one shard; returns its completion record."""
    t0 = time.perf_counter()
    tar_bytes, pq_bytes, stats = render_shard(res, spec)
    seconds = time.perf_counter() - t0
    return publish(fs, root, spec.name, tar_bytes, pq_bytes, stats.samples, spec=asdict(spec),
                   stats=stats.as_dict(), seconds=round(seconds, 3))


def read_completion(fs: pafs.FileSystem, root: str, spec: ShardSpec) -> dict | None:
    """The shard's completion record if the marker exists and its files match it."""
    try:
        with fs.open_input_stream(f"{root}/_completions/{spec.name}.json") as f:
            record = json.loads(f.read())
    except (FileNotFoundError, OSError, json.JSONDecodeError):
        return None
    if record.get("spec") != asdict(spec):
        return None  # a different job wrote this name: redo it
    for path, key in ((f"{root}/shards/{spec.name}.tar", "tar_sha256"),
                      (index_path(root, spec.name), "parquet_sha256")):
        try:
            with fs.open_input_stream(path) as f:
                if hashlib.sha256(f.read()).hexdigest() != record[key]:
                    return None
        except (FileNotFoundError, OSError):
            return None
    return record
