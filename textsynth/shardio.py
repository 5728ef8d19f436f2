"""Reading webdataset shards and parquet tables from local paths or any pyarrow filesystem
URI (``s3://``, ``gs://``, ``hdfs://``, ``file://``), with the shard-list conventions of
webdataset: brace patterns (``x-{000..099}.tar``) and folders of shards.

Tars come from strangers, so reading one is bounded: :func:`regular_members` is the one
header walk every tar reader uses (links, folders and devices skipped, headers not kept),
:func:`member_refusal` says which members must not be read into memory (sparse members, whose
declared size the tar does not hold, and members over a byte limit), and a brace pattern
expands to at most :data:`MAX_BRACE_NAMES` names."""

from __future__ import annotations

import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pyarrow.fs as pafs

SHARD_SUFFIXES = (".tar",)
TABLE_SUFFIXES = (".parquet",)

# Limits for readers that have no config key of their own (curate's are ingest.max_member_bytes
# and ingest.max_sample_bytes, synth's background.max_member_mb).
MAX_MEMBER_BYTES = 256_000_000    # one tar member read into memory
MAX_SAMPLE_BYTES = 512_000_000    # the members of one webdataset sample together
MAX_BRACE_NAMES = 1_000_000       # names one brace pattern may expand to
BRACE = r"\{([^{}]*)\}"           # a brace group with no group inside


def is_uri(spec: str) -> bool:
    """A pyarrow filesystem URI (http(s) URLs are web pages to textsynth, not filesystems)."""
    return "://" in spec and not spec.startswith(("http://", "https://"))


def expand_braces(pattern: str, limit: int = MAX_BRACE_NAMES) -> list[str]:
    """``a-{000..002}.tar`` -> a-000.tar, a-001.tar, a-002.tar; ``{x,y}`` alternatives too
    (the webdataset shard-list convention; ranges keep the width of their first bound).
    A pattern that would expand to more than ``limit`` names is a ValueError, raised before
    they are made (``{0..999999999}`` is a few bytes)."""
    def count(body: str) -> int:
        rng = re.fullmatch(r"(\d+)\.\.(\d+)", body)
        return max(0, int(rng[2]) - int(rng[1]) + 1) if rng else body.count(",") + 1

    def too_many():
        return ValueError(f"brace pattern {pattern[:200]!r} expands to more than {limit} names")

    total = 1
    for m in re.finditer(BRACE, pattern):   # the groups side by side multiply: refuse at once
        total *= count(m[1])
        if total > limit:
            raise too_many()
    out: list[str] = []
    todo = [pattern]   # a stack: every pattern on it expands to at least one name
    while todo:
        p = todo.pop()
        m = re.search(BRACE, p)
        if not m:
            out.append(p)
            continue
        body, head, tail = m[1], p[:m.start()], p[m.end():]
        if len(out) + len(todo) + count(body) > limit:   # nested groups: refuse before making them
            raise too_many()
        rng = re.fullmatch(r"(\d+)\.\.(\d+)", body)
        options = ([str(i).zfill(len(rng[1])) for i in range(int(rng[1]), int(rng[2]) + 1)]
                   if rng else body.split(","))
        todo += [head + o + tail for o in reversed(options)]
    return out


def split_query(uri: str) -> tuple[str, str]:
    """``s3://b/k?endpoint_override=h:9000`` -> (``s3://b/k``, ``?endpoint_override=h:9000``):
    a URI's options follow its path, so a file's suffix is tested, and a listed file's URI
    made, on the part before them."""
    if not is_uri(uri):
        return uri, ""
    base, sep, query = uri.partition("?")
    return base, sep + query


def child(uri: str, *parts: str) -> str:
    """A path or URI below ``uri``: ``child("s3://b/run?endpoint_override=h", "shards")`` is
    ``s3://b/run/shards?endpoint_override=h`` (the options stay at the end)."""
    base, query = split_query(str(uri))
    return "/".join([base.rstrip("/"), *parts]) + query


SECRET_OPTIONS = ("access_key", "secret_key", "session_token")


def public_uri(uri: str) -> str:
    """The URI with credentials a user may have put in its options removed: what outputs
    record (origins, configs) names a place, never a key."""
    from urllib.parse import parse_qsl, urlencode

    base, query = split_query(uri)
    if not query:
        return uri
    kept = [(k, v) for k, v in parse_qsl(query[1:], keep_blank_values=True) if k not in SECRET_OPTIONS]
    return base + ("?" + urlencode(kept, safe=":/") if kept else "")


def shard_uris(spec: str, suffixes: tuple[str, ...] = SHARD_SUFFIXES) -> list[str]:
    """The files of one shard spec: brace patterns expanded; a spec naming a folder (local or
    URI) lists the files in it with one of ``suffixes``. Local paths come back absolute; a
    listed URI keeps the folder URI's options (its endpoint)."""
    out = []
    for uri in expand_braces(spec):
        base, query = split_query(uri)
        if base.endswith(suffixes):
            out.append(uri if is_uri(uri) else str(Path(uri).resolve()))
            continue
        fs, root = pafs.FileSystem.from_uri(uri if is_uri(uri) else str(Path(uri).resolve()))
        infos = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
        prefix = uri.split("://", 1)[0] + "://" if is_uri(uri) else ""
        out += sorted(f"{prefix}{i.path}{query}" for i in infos if i.path.endswith(suffixes))
    return out


def open_input(uri: str):
    """A seekable binary file for a local path or a filesystem URI (on an object store every
    read is a ranged request: for reading a whole file in order, use :func:`open_stream`)."""
    fs, path = pafs.FileSystem.from_uri(uri if is_uri(uri) else str(Path(uri).resolve()))
    return fs.open_input_file(path)


STREAM_BUFFER = 8 << 20   # bytes read ahead per request when a file is read in order


def open_stream(uri: str):
    """A binary stream read front to back through an ``STREAM_BUFFER`` read-ahead: a tar
    streamed from an object store is a few large requests, not one per 512-byte header."""
    fs, path = pafs.FileSystem.from_uri(uri if is_uri(uri) else str(Path(uri).resolve()))
    return fs.open_input_stream(path, buffer_size=STREAM_BUFFER)


@dataclass(frozen=True)
class Refused:
    """A tar member or sample left unread because it breaks a limit."""
    reason: str   # sparse_member | member_too_large | sample_too_large
    detail: str

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"


def regular_members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """The tar's regular-file members in order; links, folders and devices are skipped. Headers
    are not kept (tarfile keeps every one it reads, so a tar of millions of empty members would
    hold millions of TarInfos)."""
    while (m := tar.next()) is not None:
        tar.members.clear()
        if m.isreg():
            yield m


def member_refusal(m: tarfile.TarInfo, max_bytes: int) -> Refused | None:
    """Why a regular member must not be read into memory, or None. A sparse member's size is
    what it declares, not what the tar holds (tarfile fills the holes with zeros, so a 10 KB
    tar can declare gigabytes); no image or metadata file is sparse."""
    if m.issparse():
        return Refused("sparse_member", f"{m.name} is a sparse file declaring {m.size} bytes")
    if m.size > max_bytes:
        return Refused("member_too_large", f"{m.name} is {m.size} bytes, over the limit of {max_bytes}")
    return None


def tar_samples(uri: str, max_member_bytes: int = MAX_MEMBER_BYTES,
                max_sample_bytes: int = MAX_SAMPLE_BYTES) -> Iterator[tuple[str, dict[str, bytes] | Refused]]:
    """(key, {extension: bytes}) per sample of a webdataset tar, in order. A sample's files
    share the key (the member name up to its first dot in the last path part) and are
    adjacent in the tar. A sample with a member :func:`member_refusal` refuses, or whose
    members exceed ``max_sample_bytes`` together, comes as (key, Refused) and is not read.
    Raises tarfile.TarError / OSError on a corrupt or truncated tar (the samples before the
    damage have been yielded)."""
    key, files, size, refused = None, {}, 0, None
    with open_stream(uri) as f, tarfile.open(fileobj=f, mode="r|") as tar:
        for m in regular_members(tar):
            folder, _, base = m.name.rpartition("/")
            k, _, ext = base.partition(".")
            k = f"{folder}/{k}" if folder else k
            if k != key and key is not None:
                yield key, refused or files
                files, size, refused = {}, 0, None
            key = k
            if refused:
                continue
            size += m.size
            refused = member_refusal(m, max_member_bytes)
            if not refused and size > max_sample_bytes:
                refused = Refused("sample_too_large", f"the members of {k} are over {max_sample_bytes} bytes together")
            if not refused:
                files[ext.lower()] = tar.extractfile(m).read()
    if key is not None:
        yield key, refused or files
