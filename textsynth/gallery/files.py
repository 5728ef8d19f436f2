"""Opening files of a served output dir without following links out of it.

Output dirs travel between people (a colleague's shards, a downloaded bench), and such a dir
may hold a symlink (``stats.json -> ~/.ssh/id_rsa``) that would make the gallery read, and
serve, any file its user can read. Every file the gallery reads from an output dir is
opened here: it must be a regular file, not a symlink, whose real path lies inside the
served dir (a symlinked folder inside the dir is fine as long as it stays inside).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO


class UnsafeFile(OSError):
    """A symlink, a non-regular file or a path that leads out of the served dir."""


def open_inside(root: Path, path: Path) -> BinaryIO:
    """``path`` opened for binary reading; ``root`` is the served dir, already resolved."""
    shown = path.relative_to(root) if path.is_relative_to(root) else path
    if not Path(os.path.realpath(path)).is_relative_to(root):
        raise UnsafeFile(f"{shown}: leads outside {root}, not served")
    try:  # non-blocking: opening a FIFO must not wait for a writer
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        if e.errno == errno.ELOOP:  # O_NOFOLLOW met a symlink (one that stays inside, too)
            raise UnsafeFile(f"{shown}: a symlink, not served") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafeFile(f"{shown}: not a regular file, not served")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


class ServedDir:
    """A served output dir on local disk: every file opened with :func:`open_inside`."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.name = self.root.name
        self.location = str(self.root)

    def exists(self) -> bool:
        return self.root.is_dir()

    def is_dir(self, rel: str) -> bool:
        return (self.root / rel).is_dir()

    def names(self, rel: str, suffix: str) -> list[str]:
        """The file names in folder ``rel`` ending in ``suffix``, sorted."""
        return sorted(p.name for p in (self.root / rel).glob(f"*{suffix}"))

    def open(self, rel: str) -> BinaryIO:
        return open_inside(self.root, self.root / rel)


class ServedURI:
    """A served output on an object store (``s3://bucket/run?endpoint_override=...``): files
    are objects read by range (a tar member is one ranged GET); no links exist there."""

    def __init__(self, uri: str):
        import pyarrow.fs as pafs

        from textsynth.shardio import public_uri, split_query

        self.fs, self.base = pafs.FileSystem.from_uri(uri)
        self.base = self.base.rstrip("/")
        self.name = split_query(uri)[0].rstrip("/").rsplit("/", 1)[-1]
        self.location = public_uri(uri)

    def _info(self, rel: str):
        return self.fs.get_file_info(f"{self.base}/{rel}".rstrip("/"))

    def exists(self) -> bool:
        import pyarrow.fs as pafs

        return self.fs.get_file_info(self.base).type == pafs.FileType.Directory

    def is_dir(self, rel: str) -> bool:
        import pyarrow.fs as pafs

        return self._info(rel).type == pafs.FileType.Directory

    def names(self, rel: str, suffix: str) -> list[str]:
        import pyarrow.fs as pafs

        infos = self.fs.get_file_info(pafs.FileSelector(f"{self.base}/{rel}", allow_not_found=True))
        return sorted(i.base_name for i in infos if i.type == pafs.FileType.File and i.base_name.endswith(suffix))

    def open(self, rel: str) -> BinaryIO:
        return self.fs.open_input_file(f"{self.base}/{rel}")


def served(spec: str) -> ServedDir | ServedURI:
    """The served dir of a gallery argument: a local path or a pyarrow filesystem URI."""
    from textsynth.shardio import is_uri

    return ServedURI(spec) if is_uri(spec) else ServedDir(Path(spec))
