"""Makers of deliberately broken input files, shared by the bad-input tests."""

from __future__ import annotations

import io
import random
import struct
import zlib
from pathlib import Path


def png_bomb(path: Path, side: int = 30000) -> None:
    """A valid 1x1 PNG whose header claims ``side`` x ``side`` pixels."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4:ihdr + 12] = struct.pack(">II", side, side)
    data[ihdr + 17:ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr:ihdr + 17])))
    path.write_bytes(bytes(data))


def corrupt_glyphs(src: Path, dst: Path) -> None:
    """``src`` with its glyf table's bytes randomised: every table and the cmap stay valid
    (so the font scans fine), but FreeType fails on the outlines."""
    data = bytearray(src.read_bytes())
    (num_tables,) = struct.unpack(">H", data[4:6])
    for i in range(num_tables):
        tag, _, offset, length = struct.unpack(">4sIII", data[12 + 16 * i:28 + 16 * i])
        if tag == b"glyf":
            rng = random.Random(0)
            data[offset:offset + length] = bytes(rng.randrange(256) for _ in range(length))
    dst.write_bytes(bytes(data))
