"""Read single members out of shard tars without extracting anything.

With the offset recorded in the shard index, a read is one seek: the 512-byte tar header in
front of the data is read with it and checked (name and size), so an index that disagrees
with its tar is an error, never the wrong picture. Members without a recorded offset (the
metadata JSON, reject examples, older shards) are found by scanning the tar's headers once;
the resulting name -> (offset, size) maps are kept for the most recently used tars.
Tars are opened through the served dir (:class:`files.ServedDir` opens with
:func:`files.open_inside`: no symlinks, nothing outside it; on an object store a member is
one ranged read), and only regular-file members are read.
"""

from __future__ import annotations

import tarfile
import threading
from collections import OrderedDict
from textsynth.gallery.files import ServedDir, ServedURI, UnsafeFile
from textsynth.shardio import MAX_MEMBER_BYTES, member_refusal, regular_members

BLOCK = 512


class MemberError(Exception):
    """The member is missing or its tar is unreadable; the message says which. (A tar that
    must not be opened raises :class:`files.UnsafeFile`.)"""


class TarStore:
    def __init__(self, max_tars: int = 64):
        self._maps: OrderedDict[tuple[str, str], dict[str, tuple[int, int]]] = OrderedDict()
        self._max = max_tars
        self._lock = threading.Lock()

    def read(self, root: ServedDir | ServedURI, tar: str, name: str, offset: int | None = None,
             size: int | None = None) -> bytes:
        """Member ``name`` of ``tar`` (a path relative to the served dir ``root``)."""
        if offset is not None and size is not None:
            return _read_checked(root, tar, name, offset, size)
        where = self._members(root, tar).get(name)
        if where is None:
            raise MemberError(f"{_base(tar)}: no member {name!r}")
        return _read_checked(root, tar, name, *where, check_header=False)  # offsets from the tar itself

    def _members(self, root: ServedDir | ServedURI, tar: str) -> dict[str, tuple[int, int]]:
        where = (root.location, tar)
        with self._lock:
            if where in self._maps:
                self._maps.move_to_end(where)
                return self._maps[where]
        try:
            with root.open(tar) as f, tarfile.open(fileobj=f, mode="r:") as t:
                members = {m.name: (m.offset_data, m.size) for m in regular_members(t)
                           if not member_refusal(m, MAX_MEMBER_BYTES)}   # sparse or too large: never read
        except UnsafeFile:
            raise
        except (tarfile.TarError, OSError, EOFError) as e:
            raise MemberError(f"{_base(tar)}: unreadable tar ({e})") from e
        with self._lock:
            self._maps[where] = members
            while len(self._maps) > self._max:
                self._maps.popitem(last=False)
        return members


def _base(rel: str) -> str:
    return rel.rsplit("/", 1)[-1]


def _read_checked(root: ServedDir | ServedURI, tar: str, name: str, offset: int, size: int,
                  check_header: bool = True) -> bytes:
    shown = _base(tar)
    if offset < BLOCK or size < 0:
        raise MemberError(f"{shown}: bad offset {offset} for {name!r}")
    if size > MAX_MEMBER_BYTES:
        raise MemberError(f"{shown}: {name!r} is {size} bytes, over {MAX_MEMBER_BYTES}")
    try:
        with root.open(tar) as f:
            f.seek(offset - BLOCK)
            buf = f.read(BLOCK + size)
    except UnsafeFile:
        raise
    except OSError as e:
        raise MemberError(f"{shown}: unreadable ({e})") from e
    if len(buf) != BLOCK + size:
        raise MemberError(f"{shown}: truncated at {name!r}")
    if not check_header:
        return buf[BLOCK:]
    try:
        info = tarfile.TarInfo.frombuf(buf[:BLOCK], tarfile.ENCODING, "surrogateescape")
    except tarfile.HeaderError as e:
        raise MemberError(f"{shown}: no tar header in front of {name!r} ({e})") from e
    if info.name != name or info.size != size or not info.isreg():
        raise MemberError(f"{shown}: index says {name!r} ({size} B) is at {offset}, the tar has "
                          f"{info.name!r} ({info.size} B) there")
    return buf[BLOCK:]
