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
