"""Shards: the unit of distributed work and of output (docs/architecture.md §2-3).

A :class:`ShardSpec` alone determines a shard's bytes. Writing is atomic: the tar and its
parquet index go to temporary names and are renamed into place, and only then is the
completion marker (with both checksums) written. A shard without a valid marker does not
exist as far as resume and verify are concerned; a malformed marker counts as none.

A job claims its output dir before writing a shard (:func:`claim_output`): ``config.yaml``
records its parameters, which give a synth job's shards (:func:`plan`); a curate job's shards
depend on the files found under its inputs and are listed in ``_plan.json``. Verify checks the
dir against that plan. Only an earlier output of the same kind may be replaced, and only the
files such a job writes are deleted (:data:`LAYOUTS`, :func:`check_replaceable`).

Tar members get fixed metadata (mtime 0, uid/gid 0, no user names, mode 0644) in sample
order, so the same spec gives the same bytes on any machine.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import json
import os
import re
import tarfile
import time
import uuid
from dataclasses import asdict, dataclass

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import yaml

from textsynth.config import MAX_CONFIG_BYTES, load_yaml
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
_FLOATS = pa.list_(pa.float64())
# quad: 4 corners x, y clockwise from the reading-order top-left (in the index every line has
# one: a line labelled with a box only gets the box's corners); poly: a curved line's outline;
# direction: ltr (lines) or ttb (vertical columns); lang: synth, the language (en, zh, mixed)
# of the block the line was drawn from
LINE = pa.struct([("text", pa.string()), ("bbox", _INTS), ("font", pa.string()),
                  ("px", pa.float64()), ("score", pa.float64()), ("quad", _FLOATS), ("poly", _FLOATS),
                  ("direction", pa.string()), ("lang", pa.string())])
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
CHAR = pa.struct([("text", pa.string()), ("bbox", _INTS), ("quad", _FLOATS)])
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


def _index_line(ln: dict) -> dict:
    """A line in INDEX_SCHEMA's form: a box-only line gets its box's quad and ``ltr``."""
    row = _fields({k: v for k, v in ln.items() if k != "chars"}, LINE, "a line")
    if row.get("quad") is None and row.get("bbox"):
        x0, y0, x1, y1 = row["bbox"]
        row = {**row, "quad": [float(v) for v in (x0, y0, x1, y0, x1, y1, x0, y1)]}
    return row if row.get("direction") else {**row, "direction": "ltr"}


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
        "lines": [_index_line(ln) for ln in lines],   # per-character boxes stay in the tar's JSON
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
    """The pyarrow filesystem and root path of an output dir or URI. On S3 an object is
    opened for writing only when it is closed (``allow_delayed_open``): an object under the
    10 MiB multipart size then goes up in one PUT, not a 3-request multipart upload."""
    uri = resolve_uri(uri)
    if uri.startswith("s3://") and "allow_delayed_open" not in uri:
        uri += ("&" if "?" in uri else "?") + "allow_delayed_open=true"
    return pafs.FileSystem.from_uri(uri)


INDEX_DIR = "index"  # apart from the tars, so a folder of parquet reads without flags


def make_output_dirs(fs: pafs.FileSystem, root: str, *extra: str) -> None:
    """The folders ``publish`` writes into (plus ``extra``); idempotent and cheap, so
    ``publish`` makes them itself and a shard can be written with nothing set up first.
    Object stores have no folders (a key's prefix is its folder): nothing to make there,
    and the empty marker objects pyarrow would write cost 9 requests per call."""
    if not renames_atomically(fs):
        return
    for d in ("shards", INDEX_DIR, "_completions", *extra):
        fs.create_dir(f"{root}/{d}", recursive=True)


def index_path(root: str, name: str) -> str:
    return f"{root}/{INDEX_DIR}/{name}.parquet"


def read_bytes(fs: pafs.FileSystem, path: str) -> bytes | None:
    """The file's bytes, or None when it is missing or unreadable. (A random-access file
    reads in one request on an object store; a stream would take one per 256 KiB.)"""
    try:
        with fs.open_input_file(path) as f:
            return f.read()
    except (FileNotFoundError, OSError):
        return None


def read_job_config(fs: pafs.FileSystem, root: str):
    """An output's ``config.yaml`` parsed (None when missing). The dir may come from anyone:
    the file is size-capped and parsed without YAML aliases, like every config we read;
    ValueError (or yaml.YAMLError) when it is over the cap or not YAML."""
    try:
        with fs.open_input_stream(f"{root}/config.yaml") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except (FileNotFoundError, OSError):
        return None
    if len(data) > MAX_CONFIG_BYTES:
        raise ValueError(f"{root}/config.yaml is over {MAX_CONFIG_BYTES} bytes")
    return load_yaml(data.decode("utf-8"))


def parquet_from_bytes(data: bytes) -> pa.Table:
    """A parquet file held in memory, as a table. Not ``pq.read_table(io.BytesIO(...))``:
    that path (the datasets API over a Python file object) makes the interpreter abort at exit
    in a good share of runs here (pyarrow 25 and 26), after the work is done."""
    return pq.ParquetFile(pa.BufferReader(data)).read()


# Object stores: an object becomes visible only when its upload completes (one PUT, or the
# CompleteMultipartUpload of a multipart one), and "rename" is a copy and a delete.
OBJECT_STORES = ("s3", "gcs", "abfs")


def renames_atomically(fs: pafs.FileSystem) -> bool:
    """Local disks and HDFS rename a file in one step; object stores do not."""
    return fs.type_name not in OBJECT_STORES


def atomic_write(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    """Write ``path`` so that a reader sees the old file or the whole new one, never a part.

    On a filesystem: a temporary name, then a rename (an interrupted write leaves only the
    temporary, which :func:`clean_temporary` removes). On an object store: the final key
    directly, because the store itself publishes an object only once its upload completes
    (a write killed midway leaves nothing), and a rename there would copy every byte again.
    Either way a shard counts only once its completion marker, written last and holding the
    checksums of its files, says so (:func:`read_completion`)."""
    if not renames_atomically(fs):
        with fs.open_output_stream(path) as f:
            f.write(data)
        return
    tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    with fs.open_output_stream(tmp) as f:
        f.write(data)
    fs.move(tmp, path)


# ---------------------------------------------------------------- what an output dir is

PLAN_FILE = "_plan.json"   # the shard names a curate job will write, recorded before the first one
TMP_SUFFIX = re.compile(r"\.tmp-[0-9a-f]{8}$")   # what an interrupted atomic_write leaves
FINISHED = ("stats.json", "shards.json", "README.md")   # written after the last shard
_SHARD_FOLDERS = {"shards": ("*.tar",), INDEX_DIR: ("*.parquet",), "_completions": ("*.json",)}
# What each kind of output holds: the names allowed in each folder ("" is the top). Anything
# else is not ours: a job refuses such a dir, and replacing an output never deletes it.
LAYOUTS = {
    "synth": {"": ("config.yaml", *FINISHED, *_SHARD_FOLDERS), **_SHARD_FOLDERS},
    "curate": {"": ("config.yaml", PLAN_FILE, *FINISHED, *_SHARD_FOLDERS, "rejects", "_work"),
               **_SHARD_FOLDERS,
               "rejects": ("*.parquet", "*.tar"), "_work": ("part-*", "_completions"),
               "_work/_completions": ("part-*.json",)},
    "bench": {"": (*FINISHED, *_SHARD_FOLDERS), **_SHARD_FOLDERS},
}


def _load(data: bytes | None, parse):
    """``parse(data)``, or None when the file is missing or does not parse."""
    try:
        return parse(data) if data is not None else None
    except (ValueError, yaml.YAMLError):   # ValueError: JSON errors, bytes that are not UTF-8
        return None


def output_kind(fs: pafs.FileSystem, root: str) -> str | None:
    """``synth``, ``curate`` or ``bench`` when ``root`` is recognisably such an output: a synth
    or curate ``config.yaml`` names the job's parameters, a bench's ``stats.json`` its bench_id."""
    try:
        cfg = read_job_config(fs, root)
    except (ValueError, yaml.YAMLError):
        cfg = None
    if cfg is not None:
        job = cfg.get("job") if isinstance(cfg, dict) else None
        keys = set(job) if isinstance(job, dict) else set()
        return ("synth" if {"name", "num_samples", "samples_per_shard"} <= keys
                else "curate" if {"name", "inputs"} <= keys else None)
    stats = _load(read_bytes(fs, f"{root}/stats.json"), json.loads)
    return "bench" if isinstance(stats, dict) and "bench_id" in stats else None


def _entries(fs: pafs.FileSystem, root: str, out: str) -> list[pafs.FileInfo]:
    """Everything under ``root`` (none when it does not exist); a file there is an error."""
    info = fs.get_file_info(root)
    if info.type == pafs.FileType.File:
        raise ValueError(f"{out!r} is a file, not an output directory")
    if info.type == pafs.FileType.NotFound:
        return []
    return fs.get_file_info(pafs.FileSelector(root, recursive=True))


def _relative(root: str, info: pafs.FileInfo) -> str:
    return info.path[len(root.rstrip("/")) + 1:]


def _fits(kind: str, rel: str) -> bool:
    """Whether ``rel`` (a path inside an output, or a temporary file of one) is a name the
    ``kind`` of output has in that folder."""
    folder, _, name = TMP_SUFFIX.sub("", rel).rpartition("/")
    return any(fnmatch.fnmatchcase(name, p) for p in LAYOUTS[kind].get(folder, ()))


def _foreign(fs: pafs.FileSystem, root: str, out: str, kind: str) -> list[str]:
    """Paths under ``root`` that a ``kind`` output would not hold."""
    return sorted(rel for info in _entries(fs, root, out)
                  if not _fits(kind, rel := _relative(root, info)))


def _listing(items: list[str], sep: str = ", ") -> str:
    return sep.join(items[:4]) + (f" and {len(items) - 4} more" if len(items) > 4 else "")


def _norm(uri: str) -> str:
    """A location for comparison: local paths absolute with links resolved, URIs without
    their query (``?endpoint_override=...``) or trailing slash."""
    return uri.split("?", 1)[0].rstrip("/") if "://" in uri else os.path.realpath(uri)


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def check_apart(out: str, sources, inside_ok: bool = False) -> None:
    """Refuse an output that is, contains or (unless ``inside_ok``: a job that does not read
    its input folders back, like bench build) lies inside one of its inputs (``sources``:
    paths or URIs; http(s) URLs are skipped): replacing it would delete the input, and a later
    run would read its own output back."""
    o = _norm(out)
    for src in sources:
        if src.startswith(("http://", "https://")):
            continue
        s = _norm(src)
        how = ("is" if o == s else "contains" if _within(s, o)
               else "lies inside" if _within(o, s) and not inside_ok else None)
        if how:
            raise ValueError(f"--out {out} {how} the input {src}: write the output to a dir apart from its inputs")


def check_replaceable(fs: pafs.FileSystem, root: str, out: str, kind: str, sources=(),
                      inside_ok: bool = False) -> None:
    """The one rule for replacing an output (``--overwrite``, a bench rebuilt): ``out`` must be
    recognisably an earlier ``kind`` output (:func:`output_kind`), hold nothing such an output
    does not (:data:`LAYOUTS`), and lie apart from the new job's inputs (:func:`check_apart`).
    Raises ValueError."""
    check_apart(out, sources, inside_ok)
    found = output_kind(fs, root)
    if found != kind:
        what = f"it holds a textsynth {found} output" if found else \
            "no config.yaml or stats.json says what made it"
        raise ValueError(f"refusing to replace {out}: it is not a textsynth {kind} output ({what}); "
                         f"only an earlier {kind} output may be replaced: choose another --out")
    foreign = _foreign(fs, root, out, kind)
    if foreign:
        raise ValueError(f"refusing to replace {out}: it holds files a {kind} output does not "
                         f"({_listing(foreign)}); move them away or choose another --out")


def claim_rewrite(out: str, kind: str, sources=()) -> None:
    """For a job that rewrites its output in place and never reads its input folders back
    (bench build): ``out`` must be new, empty or an earlier ``kind`` output, neither an input
    nor around one; temporary files an interrupted run left there are removed."""
    fs, root = filesystem(out)
    check_apart(out, sources, inside_ok=True)
    if _entries(fs, root, out):
        check_replaceable(fs, root, out, kind, sources, inside_ok=True)
        clean_temporary(fs, root, kind)


def remove_output(fs: pafs.FileSystem, root: str, kind: str) -> None:
    """Delete what a ``kind`` job writes in ``root`` (its folders, its files and their
    temporary files), nothing else."""
    for info in fs.get_file_info(pafs.FileSelector(root, allow_not_found=True)):
        if _fits(kind, info.base_name):
            if info.type == pafs.FileType.Directory:
                fs.delete_dir(info.path)
            else:
                fs.delete_file(info.path)


def clean_temporary(fs: pafs.FileSystem, root: str, kind: str) -> int:
    """Delete the temporary files an interrupted ``kind`` job left in ``root``; returns how many."""
    leftovers = [info.path for info in _entries(fs, root, root)
                 if info.type == pafs.FileType.File and TMP_SUFFIX.search(info.base_name)
                 and _fits(kind, _relative(root, info))]
    for path in leftovers:
        fs.delete_file(path)
    return len(leftovers)


def _differences(old, new, prefix: str = "") -> list[str]:
    """Keys whose values differ between two plain-data configs, as readable lines."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [d for k in sorted(set(old) | set(new), key=str)
                for d in _differences(old.get(k), new.get(k), f"{prefix}{k}.")]
    return [] if old == new else [f"{prefix.rstrip('.')}: {old!r} -> {new!r}"]


def claim_output(fs: pafs.FileSystem, root: str, out: str, resolved: dict, overwrite: bool,
                 kind: str, planned: list[str] | None = None, sources=()) -> int:
    """Make ``out`` this ``kind`` job's output, before any of its shards is written: its
    ``config.yaml`` records the job's parameters, and :data:`PLAN_FILE` the ``planned`` shard
    names when the parameters alone do not give them (curate: they follow from the files found
    under its inputs); verify compares the dir against them.

    The same job resumes. A dir holding a *different* job is refused unless ``overwrite``,
    which replaces only an earlier ``kind`` output (:func:`check_replaceable`) and deletes only
    what such a job writes. A dir that is not a ``kind`` output is refused when it holds
    anything such an output would not, or a file at its top (``README.md`` may be someone
    else's). ``out`` must lie apart from the job's ``sources``. Temporary files an interrupted
    run left are deleted; returns how many."""
    check_apart(out, sources)
    resolved = yaml.safe_load(yaml.safe_dump(resolved, allow_unicode=True))  # as read back
    found = output_kind(fs, root)
    if found == kind:
        old = read_job_config(fs, root)
        diff = _differences(old, resolved)
        if diff and not overwrite:
            raise ValueError(f"{out} holds the output of a different job ({_listing(diff, '; ')}); "
                             f"rerun with the same parameters to resume it, choose another --out, "
                             f"or add --overwrite to replace it")
        if diff:
            check_replaceable(fs, root, out, kind, sources)
            remove_output(fs, root, kind)
    else:
        # Not recognisably ours: only folders of ours and temporary files may be there.
        theirs = [rel for info in _entries(fs, root, out)
                  if not _fits(kind, rel := _relative(root, info))
                  or ("/" not in rel and info.type == pafs.FileType.File and not TMP_SUFFIX.search(rel))]
        if theirs and overwrite:
            check_replaceable(fs, root, out, kind, sources)   # raises: not a kind output
        if theirs:
            what = f"a textsynth {found} output" if found else f"not a textsynth {kind} output"
            raise ValueError(f"refusing to write into {out}: it is {what} and not empty "
                             f"({_listing(sorted(theirs))}); choose an empty or new dir")
    fs.create_dir(root, recursive=True)
    cleaned = clean_temporary(fs, root, kind)
    atomic_write(fs, f"{root}/config.yaml",
                 yaml.safe_dump(resolved, sort_keys=True, allow_unicode=True).encode())
    if planned is not None:
        atomic_write(fs, f"{root}/{PLAN_FILE}", json.dumps({"kind": kind, "shards": planned}, indent=1).encode())
    return cleaned


def read_plan(fs: pafs.FileSystem, root: str) -> list[str] | None:
    """The shard names :data:`PLAN_FILE` lists; None when it is absent; ValueError when malformed."""
    data = read_bytes(fs, f"{root}/{PLAN_FILE}")
    if data is None:
        return None
    doc = _load(data, json.loads)
    names = doc.get("shards") if isinstance(doc, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{PLAN_FILE}: malformed (expected {{\"kind\": ..., \"shards\": [names]}})")
    return names


# ---------------------------------------------------------------- completion markers

def is_count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def is_sha256(v) -> bool:
    return isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v) is not None


def is_number_map(v) -> bool:
    """A mapping of names to numbers (counts, seconds)."""
    return isinstance(v, dict) and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                       for x in v.values())


MARKER_FIELDS = {"samples": ("a count", is_count), "tar_sha256": ("a sha256", is_sha256),
                 "parquet_sha256": ("a sha256", is_sha256)}


def parse_marker(data: bytes | None, fields: dict = MARKER_FIELDS) -> dict:
    """A completion marker's record, checked to be a JSON object whose ``fields`` (name ->
    (what, test)) pass; ValueError saying what is wrong otherwise."""
    if data is None:
        raise ValueError("missing or unreadable")
    try:
        record = json.loads(data)
    except ValueError as e:   # also bytes that are not UTF-8
        raise ValueError(f"not valid JSON ({e})") from None
    if not isinstance(record, dict):
        raise ValueError(f"not a JSON object (a {type(record).__name__})")
    for key, (what, ok) in fields.items():
        if key not in record:
            raise ValueError(f"no {key!r}")
        if not ok(record[key]):
            raise ValueError(f"{key!r} is not {what}: {str(record[key])[:40]!r}")
    return record


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


def write_shard(res: Resources, spec: ShardSpec, fs: pafs.FileSystem, root: str, **record) -> dict:
    """Render and publish one shard; returns its completion record (``record`` added to it:
    e.g. the node that made it)."""
    t0 = time.perf_counter()
    tar_bytes, pq_bytes, stats = render_shard(res, spec)
    seconds = time.perf_counter() - t0
    return publish(fs, root, spec.name, tar_bytes, pq_bytes, stats.samples, spec=asdict(spec),
                   stats=stats.as_dict(), seconds=round(seconds, 3), **record)


def _stats(v) -> bool:
    """A synth shard's Stats record, as Stats.from_dict reads it."""
    return (isinstance(v, dict) and is_count(v.get("samples")) and is_count(v.get("chars", 0))
            and all(is_number_map(v.get(k, {})) for k in ("skips", "events", "templates"))
            and isinstance(v.get("ink", 0.0), (int, float)) and not isinstance(v.get("ink"), bool))


SYNTH_MARKER_FIELDS = {**MARKER_FIELDS, "spec": ("a shard spec", lambda v: isinstance(v, dict)),
                       "stats": ("a stats record", _stats)}


def read_completion(fs: pafs.FileSystem, root: str, spec: ShardSpec) -> dict | None:
    """The shard's completion record if the marker is well-formed, was written for ``spec``
    and its files match it; None otherwise (the shard is redone)."""
    try:
        record = parse_marker(read_bytes(fs, f"{root}/_completions/{spec.name}.json"), SYNTH_MARKER_FIELDS)
    except ValueError:
        return None
    if record["spec"] != asdict(spec):
        return None  # a different job wrote this name: redo it
    for path, key in ((f"{root}/shards/{spec.name}.tar", "tar_sha256"),
                      (index_path(root, spec.name), "parquet_sha256")):
        data = read_bytes(fs, path)
        if data is None or hashlib.sha256(data).hexdigest() != record[key]:
            return None
    return record
