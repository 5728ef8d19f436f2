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


def sparse_tar(path: Path, name: str = "big.png", declared: int = 8 << 30) -> None:
    """A tar of ~2 KB whose one member is a GNU sparse file declaring ``declared`` bytes: 512
    bytes of data (a PNG signature and zeros) and the rest a hole, which Python's tarfile fills
    with zeros when the member is read."""
    import tarfile

    data = b"\x89PNG\r\n\x1a\n" + bytes(504)
    info = tarfile.TarInfo(name)
    info.size = len(data)
    header = bytearray(info.tobuf(tarfile.GNU_FORMAT))
    header[156:157] = tarfile.GNUTYPE_SPARSE
    header[386:398] = tarfile.itn(0, 12, tarfile.GNU_FORMAT)            # the one data run:
    header[398:410] = tarfile.itn(len(data), 12, tarfile.GNU_FORMAT)    # offset 0, 512 bytes
    header[483:495] = tarfile.itn(declared, 12, tarfile.GNU_FORMAT)     # the "real" size
    header[148:156] = b" " * 8
    header[148:155] = b"%06o\0" % tarfile.calc_chksums(bytes(header))[0]
    path.write_bytes(bytes(header) + data + bytes(1024))


def huge_page_pdf(src: Path, dst: Path, side_pt: float = 14400) -> None:
    """Page 1 of ``src`` (with its text layer) on a ``side_pt`` x ``side_pt`` pt media box,
    the largest PDF allows: at 96 dpi a 19200 x 19200 px render (368 MP)."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument.new()
    pdf.import_pages(pdfium.PdfDocument(str(src)), [0])
    pdf[0].set_mediabox(0, 0, side_pt, side_pt)
    pdf.save(str(dst))
