"""Reading webdataset shards and parquet tables from local paths or any pyarrow filesystem
URI (``s3://``, ``gs://``, ``hdfs://``, ``file://``), with the shard-list conventions of
webdataset: brace patterns (``x-{000..099}.tar``) and folders of shards."""

from __future__ import annotations

import re
import tarfile
from pathlib import Path
from typing import Iterator

import pyarrow.fs as pafs

SHARD_SUFFIXES = (".tar",)
TABLE_SUFFIXES = (".parquet",)


def is_uri(spec: str) -> bool:
    """A pyarrow filesystem URI (http(s) URLs are web pages to textsynth, not filesystems)."""
    return "://" in spec and not spec.startswith(("http://", "https://"))


def expand_braces(pattern: str) -> list[str]:
    """``a-{000..002}.tar`` -> a-000.tar, a-001.tar, a-002.tar; ``{x,y}`` alternatives too
    (the webdataset shard-list convention; ranges keep the width of their first bound)."""
    m = re.search(r"\{([^{}]*)\}", pattern)
    if not m:
        return [pattern]
    body, head, tail = m.group(1), pattern[:m.start()], pattern[m.end():]
    rng = re.fullmatch(r"(\d+)\.\.(\d+)", body)
    if rng:
        lo, hi = rng.groups()
        options = [str(i).zfill(len(lo)) for i in range(int(lo), int(hi) + 1)]
    else:
        options = body.split(",")
    return [x for o in options for x in expand_braces(head + o + tail)]


def shard_uris(spec: str, suffixes: tuple[str, ...] = SHARD_SUFFIXES) -> list[str]:
    """The files of one shard spec: brace patterns expanded; a spec naming a folder (local or
    URI) lists the files in it with one of ``suffixes``. Local paths come back absolute."""
    out = []
    for uri in expand_braces(spec):
        if uri.endswith(suffixes):
            out.append(uri if is_uri(uri) else str(Path(uri).resolve()))
            continue
        fs, root = pafs.FileSystem.from_uri(uri if is_uri(uri) else str(Path(uri).resolve()))
        infos = fs.get_file_info(pafs.FileSelector(root, recursive=True))
        prefix = uri.split("://", 1)[0] + "://" if is_uri(uri) else ""
        out += sorted(f"{prefix}{i.path}" for i in infos if i.path.endswith(suffixes))
    return out


def open_input(uri: str):
    """A seekable binary file for a local path or a filesystem URI."""
    fs, path = pafs.FileSystem.from_uri(uri if is_uri(uri) else str(Path(uri).resolve()))
    return fs.open_input_file(path)


def tar_samples(uri: str) -> Iterator[tuple[str, dict[str, bytes]]]:
    """(key, {extension: bytes}) per sample of a webdataset tar, in order. A sample's files
    share the key (the member name up to its first dot in the last path part) and are
    adjacent in the tar. Raises tarfile.TarError / OSError on a corrupt or truncated tar
    (the samples before the damage have been yielded)."""
    key, files = None, {}
    with open_input(uri) as f, tarfile.open(fileobj=f, mode="r|") as tar:
        for m in tar:
            if not m.isfile():
                continue
            folder, _, base = m.name.rpartition("/")
            k, _, ext = base.partition(".")
            k = f"{folder}/{k}" if folder else k
            if k != key and files:
                yield key, files
                files = {}
            key = k
            files[ext.lower()] = tar.extractfile(m).read()
    if files:
        yield key, files
