"""The gallery's CJK web font: a Han face from the asset fonts, so Chinese captions and text
panes never show tofu, whatever fonts the viewer's machine has.

style.css declares it as ``@font-face "textsynth-han"`` for the CJK ranges only (Latin keeps
the page's normal font). The live server serves the whole face at FONT_ROUTE as one TrueType
file (a face taken out of a .ttc: browsers reject collections), cached on disk; a static
export embeds a subset holding just the characters of the exported samples.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

from textsynth import paths

FAMILY = "textsynth-han"
FONT_ROUTE = "/fonts/han.ttf"
# Sans faces first: the gallery's text is UI text. Matched against the font file's name.
PREFERRED = ("NotoSansCJK", "wqy-microhei", "wqy-zenhei", "SourceHanSans")


def han_face(fonts_dir: Path | None = None):
    """The asset font face to serve (a :class:`textsynth.synthesis.fonts.Face`), or None
    when no installed font draws Chinese."""
    from textsynth.synthesis.fonts import FontRegistry

    try:
        faces = [f for f in FontRegistry.from_dirs([fonts_dir] if fonts_dir else None).faces if f.has_han]
    except ValueError:  # no fonts at all
        return None
    if not faces:
        return None

    def rank(face):
        for i, name in enumerate(PREFERRED):
            if face.path.name.startswith(name):
                return (i, face.index, face.name)
        return (len(PREFERRED), -len(face.coverage), face.name)

    return min(faces, key=rank)


def _ttf(face, chars: str | None = None) -> bytes:
    """The face as a standalone TrueType font, subset to ``chars`` when given."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    font = TTFont(str(face.path), fontNumber=face.index, lazy=chars is None)
    if chars is not None:
        logging.getLogger("fontTools.subset").setLevel(logging.ERROR)  # "FFTM NOT subset" etc.
        options = subset.Options()
        options.layout_features = ["*"]
        options.name_IDs = ["*"]
        options.notdef_outline = True
        sub = subset.Subsetter(options)
        sub.populate(text=chars)
        sub.subset(font)
    buf = io.BytesIO()
    font.save(buf)
    return buf.getvalue()


def full_font(face) -> bytes:
    """The whole face as TrueType, extracted once and cached (keyed by file, size and mtime)."""
    st = face.path.stat()
    cache = paths.home() / "gallery-fonts" / f"{face.path.stem}-{face.index}-{st.st_size}-{int(st.st_mtime)}.ttf"
    if not cache.is_file():
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".tmp-{id(cache)}")
        tmp.write_bytes(_ttf(face))
        tmp.replace(cache)
    return cache.read_bytes()


def subset_font(face, text: str) -> bytes:
    """Only the glyphs for the characters of ``text`` (plus .notdef): for static exports."""
    return _ttf(face, "".join(sorted(set(text))) or "中")
