"""What every layout template uses: a :class:`Page` being filled with styled, placed lines.

A template decides *where* text goes (blocks, columns, table cells, list items...) and
*which* text; the page does the rest the same way for all of them: pick a face that draws
the whole text (never tofu), size it so its reference glyph is exactly the chosen px, wrap
and fit lines to a width, and record each placed line (pen x, baseline) in recipe form.
Colours are chosen afterwards, in one pass over the placed lines (:mod:`..recipe`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from textsynth.synthesis.raster import FaceRaster
from textsynth.synthesis.raster import justify as justify_line
from textsynth.synthesis.raster import justify_gaps
from textsynth.synthesis.resources import Resources
from textsynth.synthesis.text import script_of, tokenize, wrap

WORDY = re.compile(r"\w\w")  # two letters/digits/hanzi in a row


class Skip(Exception):
    """This sample can't be made; ``reason`` is counted in the stats."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def choice(rng: np.random.Generator, probs: dict) -> str:
    """A key of ``probs`` drawn with probability proportional to its weight."""
    u = rng.random() * sum(probs.values())
    for key, weight in probs.items():
        u -= weight
        if u < 0:
            return key
    return key


@dataclass
class Style:
    """A face at one size: everything needed to measure, wrap and place its lines."""
    font: str
    raster: FaceRaster
    em: int
    px: int
    ascent: int
    descent: int

    def pitch(self, spacing: float) -> int:
        return max(1, round((self.ascent + self.descent) * spacing))

    def width(self, s: str) -> int:
        return self.raster.advance(s, self.em)


class Page:
    """A canvas being filled by one template: placed lines, rules, block descriptions."""

    def __init__(self, res: Resources, rng: np.random.Generator, counters: dict, W: int, H: int,
                 whole_words: bool = True):
        self.res, self.rng, self.counters = res, rng, counters
        # Document templates never cut a word: trimming drops whole words and an over-long
        # word is left out. The blocks template keeps its version-1 behaviour (a line trimmed
        # by characters), so the default config renders the same pixels.
        self.whole_words = whole_words
        self.cfg = res.cfg
        self.W, self.H = W, H
        self.margin = self.cfg["layout"]["margin"]
        self._bucket: str | None = None
        self._sample_lang: str | None = None
        self.lines: list[dict] = []
        self.rules: list[dict] = []
        self.blocks: list[dict] = []

    # ------------------------------------------------------------------ draws
    @property
    def bucket(self) -> str:
        """The sample's size bucket, drawn on first use (templates decide when: the blocks
        template draws it where version 1 did)."""
        if self._bucket is None:
            self._bucket = choice(self.rng, self.cfg["size"]["bucket_probs"])
        return self._bucket

    @property
    def lo(self) -> int:
        return self.cfg["size"]["buckets"][self.bucket][0]

    @property
    def hi(self) -> int:
        return self.cfg["size"]["buckets"][self.bucket][1]

    def count(self, event: str) -> None:
        self.counters[event] = self.counters.get(event, 0) + 1

    def uniform(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    def integer(self, lo: int, hi: int) -> int:
        """Inclusive."""
        return int(self.rng.integers(lo, hi + 1))

    def lang(self) -> str:
        """A block's language: drawn per block (``text.lang_probs``), or, with
        ``text.sample_lang_probs``, drawn once per sample on first use and the same for every
        block (only such configs draw it: older configs keep their draws)."""
        per_sample = self.cfg["text"]["sample_lang_probs"]
        if not per_sample:
            return choice(self.rng, self.cfg["text"]["lang_probs"])
        if self._sample_lang is None:
            self._sample_lang = choice(self.rng, per_sample)
        return self._sample_lang

    def px(self, where: str = "any") -> int:
        """A size inside the sample's bucket: anywhere, or its upper/lower half (headings
        and body stay inside the bucket, so ``char_px`` and ``size_bucket`` stay exact)."""
        lo, hi, mid = self.lo, self.hi, (self.lo + self.hi + 1) // 2
        return {"any": self.integer(lo, hi), "high": self.integer(mid, hi),
                "low": self.integer(lo, max(lo, mid - 1))}[where]

    # ------------------------------------------------------------------ text and faces
    def corpus_text(self, lang: str, min_chars: int) -> str:
        """Running text of about ``min_chars`` in ``lang`` (mixed: Chinese with an English
        phrase inserted)."""
        if lang == "mixed":
            return self.with_english(self.res.corpora["zh"].passage(self.rng, min_chars))
        return self.res.corpora[lang].passage(self.rng, min_chars)

    def with_english(self, zh: str) -> str:
        """Chinese text with a 1-4 word English phrase inserted at a random point."""
        en = self.res.corpora["en"].line(self.rng).split()
        k = self.integer(1, min(4, len(en))) if en else 0
        cut = self.integer(0, len(zh))
        return zh[:cut] + " " + " ".join(en[:k]) + " " + zh[cut:]

    def words(self, lo: int, hi: int) -> str:
        """``lo..hi`` whole English words in a row from a corpus line (Chinese phrases are
        whole clauses: :func:`.fields.phrase`)."""
        n = self.integer(lo, hi)
        toks = [t.strip(".,;:!?()[]\"'") for t in self.res.corpora["en"].line(self.rng).split()]
        toks = [t for t in toks if WORDY.search(t)] or ["n/a"]
        start = self.integer(0, max(0, len(toks) - n))
        return " ".join(toks[start:start + n])

    def number(self) -> str:
        """A number as documents print them: counts, amounts, percentages, dates, codes."""
        r, kind = self.rng, self.integer(0, 5)
        if kind == 0:
            return f"{int(r.integers(0, 100000)):,}"
        if kind == 1:
            return f"{r.uniform(0, 1000):.{self.integer(1, 2)}f}"
        if kind == 2:
            return f"{r.uniform(-50, 100):.1f}%"
        if kind == 3:
            return f"${r.uniform(0, 10000):,.2f}"
        if kind == 4:
            return f"{self.integer(1990, 2030)}-{self.integer(1, 12):02d}-{self.integer(1, 28):02d}"
        return f"{chr(65 + self.integer(0, 25))}{self.integer(100, 9999)}"

    def style(self, make_text: Callable[[], object], lang: str, px: int,
              prefer: Callable | None = None) -> tuple[object, Style]:
        """Draw text with ``make_text()`` until some face draws all of it (never tofu), then
        that face at ``px``. ``make_text`` may return a string or a list of strings."""
        for _ in range(self.cfg["text"]["max_text_retries"]):
            text = make_text()
            joined = text if isinstance(text, str) else "".join(text)
            faces = self.res.fonts.covering(joined)
            if lang == "en":  # English in Latin faces; CJK faces' Latin glyphs serve mixed lines
                faces = [f for f in faces if not f.has_han] or faces
            if prefer is not None:
                faces = [f for f in faces if prefer(f)] or faces
            if faces:
                face = faces[int(self.rng.integers(len(faces)))]
                return text, self.style_of(face.name, px, joined)
            self.count("text_resampled_no_font")
        raise Skip("no_font_covers_text")

    def style_of(self, font: str, px: int, sample_text: str) -> Style:
        raster = self.res.raster(font)
        em = raster.em_for_px(px, han=script_of(sample_text) != "en")
        ascent, descent = raster.line_metrics(em)
        return Style(font, raster, em, px, ascent, descent)

    def fit(self, style: Style, line: str, max_width: int) -> str:
        """Trim a line until its shaped width (kerning included) fits: by whole tokens (an
        English word, a Chinese character) when the page keeps whole words, else by characters."""
        while line and style.raster.shape(line, style.em).advance > max_width:
            if self.whole_words:
                toks = tokenize(line.rstrip())
                line = "".join(toks[:-1]).rstrip()
            else:
                line = line[:-1].rstrip()
        return line

    def fits(self, style: Style, text: str, max_width: int) -> bool:
        """Whether ``text`` shaped (kerning included) is at most ``max_width`` px wide: a
        generated field (a name, a date, a code) is placed whole or not at all."""
        return style.raster.shape(text, style.em).advance <= max_width

    def wrap(self, style: Style, text: str, width: int, limit: int | None = None) -> list[str]:
        """Lines of ``text`` no wider than ``width``; lines without a word dropped."""
        lines = [self.fit(style, ln, width)
                 for ln in wrap(text, style.width, width, limit, split_words=not self.whole_words)]
        return [ln for ln in lines if WORDY.search(ln)]

    # ------------------------------------------------------------------ placing
    def block(self, **desc) -> int:
        """Start a block (one face and size, one colour); returns its id."""
        self.blocks.append(desc)
        return len(self.blocks) - 1

    def place(self, block: int, style: Style, text: str, x: int, baseline: int,
              justify: int | None = None, direction: str = "ltr") -> bool:
        """Record a line with its pen at ``x`` on ``baseline``; False (and nothing placed)
        if its ink would leave the canvas. ``justify``: stretch the spaces (or, for
        Chinese, every gap) so the line is this many px wide. ``direction="ttb"``: a
        vertical column whose centre line is ``x`` and whose top is ``baseline``."""
        vertical = direction == "ttb"
        shaped = style.raster.shape_vertical(text, style.em) if vertical else style.raster.shape(text, style.em)
        if justify and not self.justifiable(style, shaped, text, justify):
            self.count("justify_fallback_ragged")
            justify = None
        if justify:
            stretched = justify_line(shaped, text, justify)
            justify, shaped = (justify, stretched) if stretched is not shaped else (None, shaped)
        ink = shaped.ink_bounds()
        if ink is None:
            return False
        x0, y0, x1, y1 = x + ink[0], baseline + ink[1], x + ink[2], baseline + ink[3]
        if x0 < 0 or y0 < 0 or x1 > self.W or y1 > self.H:
            self.count("lines_dropped_overhang")
            return False
        line = {"text": text, "lang": script_of(text), "font": style.font, "em": style.em,
                "px": style.px, "x": int(x), "baseline": int(baseline), "block": block}
        if justify:
            line["justify"] = int(justify)
        if vertical:
            line["direction"] = "ttb"
        self.lines.append(line)
        return True

    def justifiable(self, style: Style, shaped, text: str, width: int) -> bool:
        """Whether stretching ``text`` to ``width`` keeps every gap within
        ``layout.max_justify_gap`` space widths (a narrow column with few words would show
        rivers of white instead: such a line is set ragged)."""
        gaps = justify_gaps(shaped, text)
        if not gaps:
            return True
        space = max(1, style.width(" "))
        return (width - shaped.advance) / len(gaps) <= (self.cfg["layout"]["max_justify_gap"] - 1) * space

    def rule(self, block: int, x0: int, y0: int, x1: int, y1: int) -> None:
        """A filled rectangle (table rule, form underline, bar) in its block's text colour."""
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(self.W, x1), min(self.H, y1)
        if x0 < x1 and y0 < y1:
            self.rules.append({"box": [int(x0), int(y0), int(x1), int(y1)], "block": block})

    def paragraph(self, block: int, style: Style, lines: list[str], x: int, top: int, width: int,
                  spacing: float, align: str = "left", justify: bool = False,
                  bottom: int | None = None) -> int:
        """Place wrapped lines from ``top`` down (stopping above ``bottom``); returns the y
        below the last line placed. Justified text leaves the paragraph's last line ragged."""
        bottom = self.H - self.margin if bottom is None else bottom
        pitch = style.pitch(spacing)
        y = top
        for j, text in enumerate(lines):
            if y + style.ascent + style.descent > bottom:
                self.count("lines_dropped_no_room")
                break
            adv = style.raster.shape(text, style.em).advance
            slack = width - adv
            dx = {"left": 0, "center": slack // 2, "right": slack}[align]
            just = width if justify and j < len(lines) - 1 and slack > 0 else None
            self.place(block, style, text, x + (0 if just else dx), y + style.ascent, just)
            y += pitch
        return y

    def flow(self, block: int, style: Style, paragraphs: list[list[str]], rects: list[tuple],
             spacing: float, justify: bool = False, para_gap: float = 0.5, indent: int = 0) -> int:
        """Pour wrapped paragraphs into rectangles ``(x, top, width, bottom)`` in turn (a
        column fills, then the next); returns the number of lines placed. Paragraphs are
        separated by ``para_gap`` of a line pitch; their first lines start ``indent`` px in."""
        pitch = style.pitch(spacing)
        placed, r = 0, 0
        x, y, width, bottom = rects[0]
        for lines in paragraphs:
            for j, text in enumerate(lines):
                while y + style.ascent + style.descent > bottom:
                    r += 1
                    if r == len(rects):
                        return placed
                    x, y, width, bottom = rects[r]
                dx = indent if j == 0 else 0
                slack = width - dx - style.raster.shape(text, style.em).advance
                just = width - dx if justify and j < len(lines) - 1 and slack > 0 else None
                placed += self.place(block, style, text, x + dx, y + style.ascent, just)
                y += pitch
            y += round(pitch * para_gap)
        return placed
