"""Text for rendering: corpora, clean-up, and line breaking for English and Chinese.

Line breaking works on tokens — a word of a space-separated script (Latin, Greek, Cyrillic,
Arabic, ...; :data:`~textsynth.synthesis.scripts.WORD_CLASS`), a run of spaces, or a single
other character — so one greedy algorithm wraps English at word boundaries, Chinese at any
character, and mixed lines at both. Kinsoku rules: no line starts with closing punctuation,
no line ends with opening punctuation.

A corpus holds only text of the scripts its language is written in: a line with letters of
another script (Cyrillic in an ``en`` corpus, kana in a ``zh`` one) would be labelled with
the wrong language, so it is skipped at load and counted as ``unsupported_script``.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np

from textsynth.synthesis.scripts import (HAN_RE, LANG_SCRIPTS, WORD_CLASS, foreign_letters, has_foreign_letters,
                                         script_names)

CLOSING = set("，。、；：？！）》」』】〕〉”’…·,.;:?!)]}%")
OPENING = set("（《「『【〔〈“‘([{")
_TOKEN = re.compile(f"[{WORD_CLASS}]+|\\s+|.", re.S)
_INVISIBLE = {"Cc", "Cf", "Co", "Cs", "Cn"}


def clean(s: str) -> str:
    """NFC, drop control/zero-width/format characters, collapse whitespace."""
    s = unicodedata.normalize("NFC", s)
    s = "".join(" " if ch.isspace() else ch for ch in s
                if ch.isspace() or unicodedata.category(ch) not in _INVISIBLE)
    return " ".join(s.split())


_LATIN = re.compile("[A-Za-z]")


def script_of(s: str) -> str:
    """'zh', 'en' or 'mixed' by the characters present."""
    han, latin = bool(HAN_RE.search(s)), bool(_LATIN.search(s))
    return "mixed" if han and latin else ("zh" if han else "en")


def joint_lang(langs) -> str:
    """One label for several languages (en, zh, mixed): theirs when they agree, else 'mixed'."""
    langs = set(langs)
    return langs.pop() if len(langs) == 1 else "mixed"


def count_chars(text: str) -> int:
    """Non-space characters: the density measure of a sample."""
    return sum(not c.isspace() for c in text)


def tokenize(s: str) -> list[str]:
    return _TOKEN.findall(s)


def wrap(text: str, width: Callable[[str], int], max_width: int,
         max_lines: int | None = None, split_words: bool = True) -> list[str]:
    """Greedy line breaking of ``text`` into lines no wider than ``max_width``.

    ``width(s)`` measures a string. A single token wider than a line is split by characters,
    or, with ``split_words=False``, left out (a document never shows half a word).
    Stops after ``max_lines`` lines (the rest of the text is not needed).
    """
    lines: list[list[str]] = [[]]
    used = 0
    for tok in tokenize(text):
        if max_lines is not None and len(lines) > max_lines:
            break
        w = width(tok)
        if tok.isspace():
            if lines[-1]:
                lines[-1].append(" ")
                used += w
            continue
        if w > max_width and not split_words:
            continue
        if used + w > max_width and lines[-1]:
            # Kinsoku: closing punctuation never starts a line -> carry the previous token
            # down with it; opening punctuation never ends one.
            carry = []
            while lines[-1] and lines[-1][-1] == " ":
                lines[-1].pop()
            if tok in CLOSING and lines[-1]:
                carry.append(lines[-1].pop())
            while lines[-1] and lines[-1][-1] in OPENING:
                carry.insert(0, lines[-1].pop())
            lines.append(carry)
            used = sum(width(t) for t in carry)
        if w > max_width and not lines[-1]:
            for ch in tok:  # an over-long word: break inside it
                cw = width(ch)
                if used + cw > max_width and lines[-1]:
                    lines.append([])
                    used = 0
                lines[-1].append(ch)
                used += cw
            continue
        lines[-1].append(tok)
        used += w
    out = [s for s in ("".join(t).strip() for t in lines) if s]
    if not split_words:   # a left-out word leaves two spaces
        out = [re.sub(" {2,}", " ", s) for s in out]
    return out[:max_lines] if max_lines is not None else out


# Corpora are meant as one sentence or paragraph per line. A longer line (a whole book on
# one line) is cut into pieces: otherwise every draw re-tokenises megabytes and every
# sample starts with the same words.
MAX_LINE_CHARS = 1000
_BREAK_AFTER = set(" 。！？；.!?;")


def split_long(line: str, limit: int = MAX_LINE_CHARS) -> list[str]:
    """``line`` cut into pieces of at most ``limit`` characters, each ending at a space or
    sentence end in the second half of its window when there is one."""
    pieces = []
    while len(line) > limit:
        cut = max((i + 1 for i in range(limit // 2, limit) if line[i] in _BREAK_AFTER), default=limit)
        pieces.append(line[:cut].strip())
        line = line[cut:].strip()
    pieces.append(line)
    return [p for p in pieces if p]


class Corpus:
    """Clean text lines of one language, sampled uniformly by line.

    ``notes`` holds warnings about the input worth showing the user once (the driver
    prints them; workers load the same corpus silently); ``skips`` counts the lines left
    out, by reason.
    """

    def __init__(self, lang: str, files: list[Path]):
        if not files:
            raise ValueError(f"no corpus files for language '{lang}'; run `textsynth assets "
                             f"fetch` or set text.corpora.{lang}")
        self.lang, self.files = lang, [Path(f) for f in files]
        lines: list[str] = []
        self.notes: list[str] = []
        self.skips: Counter = Counter()
        for f in self.files:
            try:
                raw = f.read_text(encoding="utf-8")
            except FileNotFoundError:
                raise ValueError(f"corpus file not found: {f}") from None
            except UnicodeDecodeError as e:
                raise ValueError(f"corpus file {f} is not UTF-8: {e}") from None
            got = [c for c in (clean(x) for x in raw.splitlines()) if c]
            if not got:
                raise ValueError(f"corpus file {f} has no usable lines")
            long = [x for x in got if len(x) > MAX_LINE_CHARS]
            if long:
                got = [p for x in got for p in (split_long(x) if len(x) > MAX_LINE_CHARS else [x])]
                self.notes.append(
                    f"corpus file {f}: {len(long)} line(s) longer than {MAX_LINE_CHARS} characters "
                    f"cut into pieces ({len(got)} lines now); one sentence or paragraph per line "
                    f"gives more varied text")
            lines.extend(self._in_script(f, got))
        self.lines = lines

    def _in_script(self, f: Path, got: list[str]) -> list[str]:
        """The lines of file ``f`` written in this language's scripts; the others are
        counted (``unsupported_script``) and named in a note, or, when none is left, an error."""
        if not has_foreign_letters("\n".join(got), self.lang):   # the usual case, in one pass
            return got
        foreign = [foreign_letters(x, self.lang) for x in got]
        kept = [x for x, letters in zip(got, foreign) if not letters]
        scripts = ", ".join(script_names([ch for letters in foreign for ch in letters])[:4])
        what = f"letters of a script that is not {LANG_SCRIPTS[self.lang]} ({scripts})"
        if not kept:
            raise ValueError(f"corpus file {f} has no usable lines: all {len(got)} have {what}")
        dropped = len(got) - len(kept)
        self.skips["unsupported_script"] += dropped
        self.notes.append(f"corpus file {f}: {dropped} of {len(got)} lines "
                          f"({dropped / len(got):.1%}) skipped, counted as unsupported_script: "
                          f"they have {what}")
        return kept

    def line(self, rng: np.random.Generator) -> str:
        return self.lines[int(rng.integers(len(self.lines)))]

    def passage(self, rng: np.random.Generator, min_chars: int) -> str:
        """Consecutive lines from a random start until at least ``min_chars`` long."""
        i = int(rng.integers(len(self.lines)))
        parts, n = [], 0
        sep = "" if self.lang == "zh" else " "
        while n < min_chars and len(parts) < 200:
            parts.append(self.lines[i % len(self.lines)])
            n += len(parts[-1])
            i += 1
        return sep.join(parts)
