"""Shaping (HarfBuzz) and rasterisation (FreeType) of text lines into coverage masks.

``px`` — the size users ask for — is the *ink height of a character*: the height of a full
ideograph (国) for text containing Han characters, the cap height (H) otherwise. For each
(face, px, script) we pick the integer pixel em size whose hinted reference glyph has that
ink height, so the 5–20 px range means what it says on screen.

Glyph bitmaps are cached per (face, em, glyph id); shaped runs per (face, em, text). Both
caches make steady-state rendering mostly array copies.
"""

from __future__ import annotations

import bisect

import ctypes
import unicodedata
import weakref
from dataclasses import dataclass
from functools import lru_cache

import freetype
import numpy as np
import uharfbuzz as hb

from textsynth.synthesis.fonts import Face
from textsynth.synthesis.scripts import is_han

LOAD_FLAGS = freetype.FT_LOAD_DEFAULT | freetype.FT_LOAD_NO_BITMAP | freetype.FT_LOAD_TARGET_NORMAL
REF_HAN, REF_LATIN = "国", "H"
# Cache budgets. Glyphs (~0.5 KB each with overhead) are shared across all faces of the
# process: past the budget every glyph cache is dropped and refills (rare, cheap). Shaped
# lines are only reused between sampling and rendering the same sample, so few are kept.
GLYPH_BUDGET = 120_000
SHAPED_PER_FACE = 256
_LIVE: "weakref.WeakSet[FaceRaster]" = weakref.WeakSet()


@dataclass(slots=True)
class Glyph:
    bitmap: np.ndarray  # uint8 coverage, tight to the glyph's ink
    left: int           # offset of bitmap's left column from the pen position
    top: int            # offset of bitmap's top row above the baseline


@dataclass
class ShapedLine:
    """A line laid out at pixel positions relative to (pen x = 0, baseline y = 0)."""

    glyphs: list[tuple[Glyph, int, int, int]]  # (glyph, x, y, cluster index in text)
    advance: int
    _ink: tuple | None = None

    def ink_bounds(self) -> tuple[int, int, int, int] | None:
        """(x0, y0, x1, y1) of the ink relative to pen/baseline, exclusive end."""
        if self._ink is None:
            self._ink = (self._compute_ink(),)
        return self._ink[0]

    def _compute_ink(self):
        boxes = [(x + g.left, y - g.top, x + g.left + g.bitmap.shape[1], y - g.top + g.bitmap.shape[0])
                 for g, x, y, _ in self.glyphs if g.bitmap.size]
        if not boxes:
            return None
        b = np.array(boxes)
        return int(b[:, 0].min()), int(b[:, 1].min()), int(b[:, 2].max()), int(b[:, 3].max())


def _script_runs(text: str) -> list[tuple[int, int]]:
    """Split text into runs of Han vs. everything else, so each run shapes with its script.

    Neutral characters (spaces, punctuation, digits) stick to the run they are in.
    """
    runs, start, cur = [], 0, None
    for i, ch in enumerate(text):
        kind = True if is_han(ch) else (False if ch.isalpha() else None)
        if kind is None or cur is None or kind == cur:
            cur = kind if kind is not None else cur
            continue
        runs.append((start, i))
        start, cur = i, kind
    runs.append((start, len(text)))
    return [r for r in runs if r[1] > r[0]]


def _tight_glyph(bm, left: int, top: int) -> Glyph:
    """Copy a FreeType bitmap, cropped to its inked pixels so boxes are exact."""
    if not (bm.rows and bm.width):
        return Glyph(np.zeros((0, 0), np.uint8), left, top)
    # Read FreeType's buffer through ctypes: freetype-py's `.buffer` builds a Python list.
    raw = ctypes.string_at(bm._FT_Bitmap.buffer, bm.rows * abs(bm.pitch))
    arr = np.frombuffer(raw, np.uint8).reshape(bm.rows, abs(bm.pitch))[:, :bm.width]
    rows, cols = np.nonzero(arr.any(axis=1))[0], np.nonzero(arr.any(axis=0))[0]
    if not len(rows):
        return Glyph(np.zeros((0, 0), np.uint8), left, top)
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    return Glyph(np.ascontiguousarray(arr[r0:r1, c0:c1]), left + int(c0), top - int(r0))


class FaceRaster:
    """One face at run time: HarfBuzz font for shaping, FreeType face for bitmaps."""

    cached_glyphs = 0  # across all live instances, see GLYPH_BUDGET

    def __init__(self, face: Face):
        _LIVE.add(self)
        self.face = face
        blob = hb.Blob.from_file_path(str(face.path))
        self.hb_face = hb.Face(blob, face.index)
        self.hb_font = hb.Font(self.hb_face)
        try:
            self.ft = freetype.Face(str(face.path), index=face.index)
        except freetype.FT_Exception as e:
            raise BadFont(face.name, e) from None
        self._em = None
        self._glyphs: dict[tuple[int, int], Glyph] = {}
        self._shaped: dict[tuple[int, str], ShapedLine] = {}
        self._em_for: dict[tuple[int, bool], int] = {}
        self._advances: dict[int, dict[str, int]] = {}

    def _set_em(self, em: int) -> None:
        if self._em != em:
            try:
                self.ft.set_pixel_sizes(0, em)
            except freetype.FT_Exception as e:
                raise BadFont(self.face.name, e) from None
            self._em = em

    def glyph(self, gid: int, em: int) -> Glyph:
        key = (em, gid)
        g = self._glyphs.get(key)
        if g is None:
            self._set_em(em)
            try:
                self.ft.load_glyph(gid, LOAD_FLAGS)
                slot = self.ft.glyph
                slot.render(freetype.FT_RENDER_MODE_NORMAL)
            except freetype.FT_Exception as e:
                raise BadFont(self.face.name, e, gid) from None
            bm = slot.bitmap
            g = _tight_glyph(bm, slot.bitmap_left, slot.bitmap_top)
            FaceRaster.cached_glyphs += 1
            if FaceRaster.cached_glyphs > GLYPH_BUDGET:
                for r in _LIVE:
                    r._glyphs.clear()
                FaceRaster.cached_glyphs = 1
            self._glyphs[key] = g
        return g

    def ink_height(self, ch: str, em: int) -> int:
        gid = self.ft.get_char_index(ord(ch))
        return self.glyph(gid, em).bitmap.shape[0]

    def em_for_px(self, px: int, han: bool) -> int:
        """Integer em whose hinted reference glyph is ``px`` tall (closest match)."""
        key = (px, han)
        if key not in self._em_for:
            ref = REF_HAN if han else REF_LATIN
            units = self.hb_face.upem
            self._set_em(units)  # unhinted-ish estimate from a large size
            est = max(2, round(px * units / max(1, self._outline_height(ref))))
            best = min(range(max(2, est - 2), est + 3),
                       key=lambda em: (abs(self.ink_height(ref, em) - px), em))
            self._em_for[key] = best
        return self._em_for[key]

    def _outline_height(self, ch: str) -> int:
        try:
            self.ft.load_char(ch, freetype.FT_LOAD_NO_SCALE)
        except freetype.FT_Exception as e:
            raise BadFont(self.face.name, e, self.ft.get_char_index(ord(ch))) from None
        ys = [p[1] for p in self.ft.glyph.outline.points]
        return (max(ys) - min(ys)) if ys else self.hb_face.upem

    def advance(self, text: str, em: int) -> int:
        """Width of ``text`` in px from per-character advances (no kerning): cheap, for
        line breaking; the final line is shaped for real and checked again."""
        table = self._advances.get(em)
        if table is None:
            table = self._advances[em] = {}
        total = 0
        for ch in text:
            a = table.get(ch)
            if a is None:
                gid = self.hb_font.get_nominal_glyph(ord(ch)) or 0
                self.hb_font.scale = (em * 64, em * 64)
                a = table[ch] = self.hb_font.get_glyph_h_advance(gid)
            total += a
        return (total + 32) >> 6

    def line_metrics(self, em: int) -> tuple[int, int]:
        """(ascent, descent) in px at this em, from the font's own line metrics."""
        self._set_em(em)
        m = self.ft.size
        return (m.ascender + 63) >> 6, (-m.descender + 63) >> 6

    def shape(self, text: str, em: int) -> ShapedLine:
        """Shape ``text`` with kerning/ligatures/marks and place its glyph bitmaps."""
        key = (em, text)
        line = self._shaped.get(key)
        if line is not None:
            return line
        self.hb_font.scale = (em * 64, em * 64)
        glyphs, pen = [], 0
        for start, end in _script_runs(text):
            buf = hb.Buffer()
            buf.add_str(text[start:end])
            buf.guess_segment_properties()
            hb.shape(self.hb_font, buf, {"kern": True, "liga": True})
            for info, pos in zip(buf.glyph_infos, buf.glyph_positions):
                if info.codepoint == 0 and not text[start + info.cluster].isspace():
                    raise MissingGlyph(self.face.name, text[start + info.cluster])
                x = (pen + pos.x_offset + 32) >> 6
                y = -((pos.y_offset + 32) >> 6)
                glyphs.append((self.glyph(info.codepoint, em), x, y, start + info.cluster))
                pen += pos.x_advance
        line = ShapedLine(glyphs, (pen + 32) >> 6)
        if len(self._shaped) >= SHAPED_PER_FACE:
            self._shaped.clear()
        self._shaped[key] = line
        return line

    def vertical_advance(self, text: str, em: int) -> int:
        """Height of ``text`` set vertically, for column breaking: an em per Han character
        (and per full-width mark), the width of the rest (Latin runs lie on their side)."""
        return sum(em if is_han(ch) or unicodedata.east_asian_width(ch) in "WF" else self.advance(ch, em)
                   for ch in text)

    def shape_vertical(self, text: str, em: int) -> ShapedLine:
        """``text`` set top to bottom as a column whose centre line is x = 0: Han runs shaped
        vertically by HarfBuzz (its ``vert``/``vrt2`` features give the vertical forms of
        punctuation and brackets), other runs (Latin words, digits) set horizontally and
        turned 90 degrees clockwise, as vertical Chinese typesetting does. ``advance`` is the
        column's length; y grows downwards from the column's top."""
        key = (em, "\x00ttb\x00" + text)
        line = self._shaped.get(key)
        if line is not None:
            return line
        glyphs, pen = [], 0   # pen: 26.6 units down the column
        for start, end in _script_runs(text):
            run = text[start:end]
            if not any(is_han(ch) or unicodedata.east_asian_width(ch) in "WF" for ch in run):
                pen = self._rotated_run(run, start, em, glyphs, pen)
                continue
            self.hb_font.scale = (em * 64, em * 64)
            buf = hb.Buffer()
            buf.add_str(run)
            buf.guess_segment_properties()
            buf.direction = "ttb"
            hb.shape(self.hb_font, buf, {"vert": True, "vrt2": True})
            for info, pos in zip(buf.glyph_infos, buf.glyph_positions):
                if info.codepoint == 0 and not run[info.cluster].isspace():
                    raise MissingGlyph(self.face.name, run[info.cluster])
                ch, g = run[info.cluster], self.glyph(info.codepoint, em)
                if not g.bitmap.size and not ch.isspace() and not is_invisible(ch):
                    # a vertical form without an outline (the AR PL fonts' brackets): the
                    # horizontal glyph turned clockwise, centred in its cell
                    flat = self.glyph(self.hb_font.get_nominal_glyph(ord(ch)) or 0, em)
                    turned = np.ascontiguousarray(np.rot90(flat.bitmap, k=-1))
                    top = ((pen + 32) >> 6) + (((-pos.y_advance + 32) >> 6) - turned.shape[0]) // 2
                    glyphs.append((Glyph(turned, 0, 0), -turned.shape[1] // 2, top, start + info.cluster))
                    pen -= pos.y_advance
                    continue
                # HarfBuzz's y axis points up; its offsets already move the vertical origin
                # to the glyph's horizontal one, where FreeType's bitmap offsets start. A font
                # whose vertical metrics put that origin far from its em box (WenQuanYi Micro
                # Hei: 1.55 em for Han, 0.3 em for the ideographic full stop, which then hides
                # under the glyph before it) gets the em box's own: its ascent share of the em.
                x = (pos.x_offset + 32) >> 6
                origin = -pos.y_offset
                if abs(origin - self._em_box_top(em)) > 16 * em:   # more than 1/4 em off
                    origin = self._em_box_top(em)
                y = (pen + origin + 32) >> 6
                glyphs.append((g, x, y, start + info.cluster))
                pen -= pos.y_advance
        line = ShapedLine(glyphs, (pen + 32) >> 6)
        if len(self._shaped) >= SHAPED_PER_FACE:
            self._shaped.clear()
        self._shaped[key] = line
        return line

    def _em_box_top(self, em: int) -> int:
        """The em box's top above the baseline, in 26.6 units at ``em``: the em shared between
        the font's ascender and descender in their proportion."""
        asc, desc = self.ft.ascender, -self.ft.descender
        return round(em * 64 * asc / max(1, asc + desc))

    def _rotated_run(self, run: str, start: int, em: int, glyphs: list, pen: int) -> int:
        """A non-Han run of a column: set horizontally, turned 90 degrees clockwise (its tops
        face right), centred on the column; returns the pen moved past it."""
        flat = self.shape(run, em)
        ink = flat.ink_bounds()
        if ink is not None:
            ix0, iy0, ix1, iy1 = ink
            mask = np.zeros((iy1 - iy0, ix1 - ix0), np.uint8)
            draw_line(flat, mask, -ix0, -iy0)
            turned = np.ascontiguousarray(np.rot90(mask, k=-1))
            # turned clockwise, the baseline runs iy1 px right of the bitmap's left edge; the
            # run's em box (descent left of the baseline, ascent right) centres on the axis
            ascent, descent = self.line_metrics(em)
            x = (descent - ascent) // 2 - iy1
            glyphs.append((Glyph(turned, 0, 0), x, ((pen + 32) >> 6) + ix0, start))
        return pen + flat.advance * 64


def shape_line(raster: "FaceRaster", line: dict) -> ShapedLine:
    """A recipe line shaped as it is drawn: a vertical column (``direction: ttb``), or a
    horizontal line stretched to its ``justify`` width when it has one."""
    if line.get("direction") == "ttb":
        return raster.shape_vertical(line["text"], line["em"])
    shaped = raster.shape(line["text"], line["em"])
    return justify(shaped, line["text"], line["justify"]) if line.get("justify") else shaped


def justify_gaps(line: ShapedLine, text: str) -> list[int]:
    """The clusters justification widens the gap before: spaces, or in Chinese text without
    spaces every character after the first."""
    clusters = sorted({c for *_, c in line.glyphs})
    gaps = [c for c in clusters if text[c].isspace()]
    if not gaps and any(is_han(ch) for ch in text):
        gaps = clusters[1:]
    return gaps


def justify(line: ShapedLine, text: str, width: int) -> ShapedLine:
    """``line`` stretched to ``width`` px: the extra space is shared among the gaps after
    spaces, or, in Chinese text without spaces, among the gaps between characters. A Latin
    line without spaces (one word) is returned as it is: letter-spacing it is not justification."""
    extra = width - line.advance
    gaps = justify_gaps(line, text)
    if extra <= 0 or not gaps:
        return line
    glyphs = [(g, x + extra * bisect.bisect_right(gaps, c) // len(gaps), y, c)
              for g, x, y, c in line.glyphs]
    return ShapedLine(glyphs, width)


class MissingGlyph(ValueError):
    def __init__(self, font: str, ch: str):
        super().__init__(f"font {font} has no glyph for {ch!r} (U+{ord(ch):04X})")
        self.font, self.char = font, ch


class BadFont(ValueError):
    """FreeType can't load or draw a glyph of this face (corrupt outline data). Which glyphs
    fail is a property of the file, so a sample that meets one is skipped the same way in
    every process: counted as ``bad_font:FACE``, and the draw is retried."""

    def __init__(self, font: str, error: Exception, gid: int | None = None):
        where = f" glyph {gid}" if gid is not None else ""
        super().__init__(f"font {font}{where}: {error}".replace("FT_Exception:  ", ""))
        self.font = font


def draw_line(line: ShapedLine, mask: np.ndarray, x0: int, baseline: int) -> None:
    """Max-composite the line's glyph coverage into ``mask`` (H, W uint8), clipped."""
    H, W = mask.shape
    for g, x, y, _ in line.glyphs:
        h, w = g.bitmap.shape
        if not h:
            continue
        top, left = baseline + y - g.top, x0 + x + g.left
        t, l, b, r = max(top, 0), max(left, 0), min(top + h, H), min(left + w, W)
        if t >= b or l >= r:
            continue
        region = mask[t:b, l:r]
        np.maximum(region, g.bitmap[t - top:b - top, l - left:r - left], out=region)


@lru_cache(maxsize=None)
def is_invisible(ch: str) -> bool:
    """Control and format characters (zero-width space, BOM, soft hyphen, ...)."""
    return unicodedata.category(ch) in ("Cc", "Cf") and ch not in "\n"
