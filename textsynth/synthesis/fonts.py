"""Font registry: every face in a set of folders, with what it can really draw.

A face is one font in a file (a .ttc holds several; ``FILE#INDEX`` names it). Coverage is
the cmap *minus* glyphs that draw nothing (a cmap may point a code point at an empty
outline), so "covers the text" means "draws every character" and tofu can't happen.
Coverage is cached on disk per file (keyed by size and mtime) because reading every glyph
of a CJK font takes a second or more.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from fontTools.ttLib import TTCollection, TTFont

from textsynth import paths

FONT_SUFFIXES = {".ttf", ".otf", ".ttc", ".otc"}
# Code points that legitimately draw nothing.
BLANK_OK = {0x20, 0xA0, 0x3000, 0x2002, 0x2003, 0x2009}
COVERAGE_CACHE_VERSION = 1


class Coverage:
    """A set of code points as a bitmap: ~8 KB per 64k code points instead of ~4 MB as a
    frozenset of ints, which matters with a hundred CJK faces in every worker."""

    __slots__ = ("_bits", "_count")

    def __init__(self, codepoints):
        cps = np.asarray(sorted(codepoints), dtype=np.int64)
        bits = np.zeros(int(cps[-1]) + 1 if len(cps) else 1, dtype=bool)
        bits[cps] = True
        self._bits = np.packbits(bits, bitorder="little").tobytes()
        self._count = len(cps)

    def __contains__(self, cp: int) -> bool:
        i = cp >> 3
        return i < len(self._bits) and bool(self._bits[i] >> (cp & 7) & 1)

    def __len__(self) -> int:
        return self._count


@dataclass(frozen=True)
class Face:
    path: Path
    index: int
    family: str
    style: str
    coverage: Coverage = field(compare=False, repr=False)

    @property
    def name(self) -> str:
        """The id used in metadata: ``FILE#INDEX`` with FILE the file's name."""
        return f"{self.path.name}#{self.index}"

    @property
    def has_han(self) -> bool:
        return ord("中") in self.coverage and ord("国") in self.coverage

    def covers(self, text: str) -> bool:
        cov = self.coverage
        return all(ord(c) in cov for c in text if not c.isspace())


def _drawn_codepoints(font: TTFont) -> set[int]:
    """Code points whose glyph has an outline (or is an allowed blank)."""
    cmap = font.getBestCmap() or {}
    order = font.getGlyphOrder()
    if "glyf" in font:
        # An empty glyph has a zero-length entry in loca: no decoding needed.
        loca = font["loca"]
        index = {name: i for i, name in enumerate(order)}
        def drawn(name):
            i = index[name]
            return loca[i + 1] > loca[i]
    else:
        from fontTools.pens.boundsPen import BoundsPen
        glyphs = font.getGlyphSet()
        def drawn(name):
            pen = BoundsPen(glyphs)
            glyphs[name].draw(pen)
            return pen.bounds is not None
    cache: dict[str, bool] = {}
    out = set()
    for cp, name in cmap.items():
        if cp in BLANK_OK:
            out.add(cp)
            continue
        if unicodedata.category(chr(cp)) in ("Cc", "Cf", "Zl", "Zp"):
            continue  # never drawn as glyphs
        if name not in cache:
            cache[name] = drawn(name)
        if cache[name]:
            out.add(cp)
    return out


def _name(font: TTFont, name_id: int) -> str:
    rec = font["name"].getDebugName(name_id)
    return rec or ""


def _scan_file(path: Path) -> list[dict]:
    if path.suffix.lower() in (".ttc", ".otc"):
        fonts = TTCollection(str(path), lazy=True).fonts
    else:
        fonts = [TTFont(str(path), lazy=True)]
    return [
        {"index": i, "family": _name(f, 16) or _name(f, 1), "style": _name(f, 17) or _name(f, 2),
         "coverage": sorted(_drawn_codepoints(f))}
        for i, f in enumerate(fonts)
    ]


def _cache_file(path: Path) -> Path:
    st = path.stat()
    key = f"{COVERAGE_CACHE_VERSION}:{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"
    return paths.home() / "font-coverage" / (hashlib.sha1(key.encode()).hexdigest() + ".json")


def scan_file(path: Path) -> list[Face]:
    """All faces of one font file (coverage from the disk cache when fresh)."""
    cache = _cache_file(path)
    if cache.exists():
        records = json.loads(cache.read_text())
    else:
        try:
            records = _scan_file(path)
        except Exception as e:  # a broken font file is a named error, not a crash later
            raise ValueError(f"cannot read font {path}: {e}") from e
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".part")
        tmp.write_text(json.dumps(records))
        tmp.replace(cache)
    return [Face(path, r["index"], r["family"], r["style"], Coverage(r["coverage"]))
            for r in records]


class FontRegistry:
    """The faces found under some folders; answers "which faces can draw this text?"."""

    def __init__(self, faces: list[Face]):
        if not faces:
            raise ValueError("no fonts found; run `textsynth assets fetch` or set fonts.dirs")
        self.faces = sorted(faces, key=lambda f: f.name)
        self.by_name = {f.name: f for f in self.faces}
        self._masks: dict[str, int] = {}

    @classmethod
    def from_dirs(cls, dirs: list[Path] | None = None, exclude: list[str] = ()) -> "FontRegistry":
        dirs = [Path(d) for d in (dirs or [paths.fonts_dir()])]
        for d in dirs:
            if not d.is_dir():
                raise ValueError(f"fonts.dirs: {d} is not a folder")
        files = sorted(p for d in dirs for p in Path(d).rglob("*")
                       if p.suffix.lower() in FONT_SUFFIXES)
        faces = [face for p in files if p.name not in exclude for face in scan_file(p)]
        return cls(faces)

    def covering(self, text: str) -> list[Face]:
        """Faces that draw every non-space character of ``text``."""
        every = mask = (1 << len(self.faces)) - 1
        for ch in set(text):
            m = self._masks.get(ch)
            if m is None:  # bit i set <=> face i draws ch (computed once per character)
                cp = ord(ch)
                m = every if ch.isspace() else sum(
                    1 << i for i, f in enumerate(self.faces) if cp in f.coverage)
                self._masks[ch] = m
            mask &= m
            if not mask:
                return []
        return [f for i, f in enumerate(self.faces) if mask >> i & 1]

    def __getitem__(self, name: str) -> Face:
        try:
            return self.by_name[name]
        except KeyError:
            raise KeyError(f"font {name!r} is not in the registry") from None

    def __len__(self) -> int:
        return len(self.faces)
