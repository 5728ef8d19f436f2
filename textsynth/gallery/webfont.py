"""The gallery's CJK web font: a Han face from the asset fonts, so Chinese captions and text
panes never show tofu, whatever fonts the viewer's machine has.

style.css declares it as ``@font-face "textsynth-han"`` for the CJK ranges only (Latin keeps
the page's normal font). The live server serves the whole face at FONT_ROUTE as one font
file (a face taken out of a .ttc: browsers reject collections), cached on disk; a static
export embeds a subset holding just the characters of the exported samples.
"""

from __future__ import annotations

import hashlib
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
        file = next((i for i, name in enumerate(PREFERRED) if face.path.name.startswith(name)), len(PREFERRED))
        # Within a file or a collection (NotoSansCJK-{Regular,Bold}.ttc hold JP, KR, SC, TC,
        # HK and Mono faces): the regular, simplified-Chinese, proportional face.
        return (file, face.style != "Regular", not face.family.endswith(" SC"), "Mono" in face.family,
                -len(face.coverage), face.index, face.name)

    return min(faces, key=rank)


def _ttf(face, chars: str | None = None) -> bytes:
    """The face as a standalone font file (outlines as they are), subset to ``chars`` when given."""
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


def mime(font: bytes) -> str:
    """font/otf for CFF outlines (Noto CJK), font/ttf for TrueType ones (WenQuanYi)."""
    return "font/otf" if font[:4] == b"OTTO" else "font/ttf"


def full_font(face) -> bytes:
    """The whole face as one font file, extracted once and cached (keyed by path, size, mtime)."""
    st = face.path.stat()
    key = hashlib.sha1(f"{face.path.resolve()}:{face.index}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:12]
    cache = paths.home() / "gallery-fonts" / f"{face.path.stem}-{face.index}-{key}.ttf"
    if cache.is_symlink() or not cache.is_file():  # a planted link is replaced, never followed
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".tmp-{id(cache)}")
        tmp.write_bytes(_ttf(face))
        tmp.replace(cache)
        for old in cache.parent.glob(f"{face.path.stem}-{face.index}-*.ttf"):  # the font was updated
            if old != cache:
                old.unlink(missing_ok=True)
    return cache.read_bytes()


def subset_font(face, text: str) -> bytes:
    """Only the glyphs for the characters of ``text`` (plus .notdef): for static exports."""
    return _ttf(face, "".join(sorted(set(text))) or "中")
