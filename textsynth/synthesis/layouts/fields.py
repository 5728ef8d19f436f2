"""Whole fields for table cells and form values: never a fragment of a word.

Real tables and forms hold names, dates, amounts, codes, quantities with units and short
phrases. A field here is either generated whole (names, numbers, dates, codes) or taken whole
from the corpus: English phrases are runs of whole words, Chinese phrases are whole clauses
(the text between two punctuation marks), never a window cut across a word. Templates trim
phrases only at word boundaries (:meth:`~.common.Page.fit`) and drop a generated field that
does not fit rather than cut it.
"""

from __future__ import annotations

import re

from textsynth.synthesis.layouts.common import WORDY, Page

# The commonest Chinese surnames and a handful of English given-name initials: shapes of
# names, not a name list (the rest of a name comes from the corpus).
SURNAMES_ZH = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
UNITS = {"en": ["kg", "g", "mm", "cm", "m", "km", "ml", "L", "h", "min", "s", "°C", "MB", "GB", "pcs"],
         "zh": ["元", "公斤", "千克", "米", "厘米", "个", "件", "小时", "天", "吨", "台"]}
# What a column or value holds: phrases and names read as text; the rest are numbers (right
# aligned in tables).
TEXT_KINDS = ("phrase", "name")
NUMBER_KINDS = ("amount", "number", "percent", "date", "quantity", "code")
FUNCTION_WORDS = frozenset("""a an the of to in on at by for from with and or but nor so as is are was were be
been it its this that these those he she they we you i his her their our your not no if then than
which who whom what when where how all any some""".split())
_CLAUSE_SPLIT = re.compile(r"[\s\W_]+")
_CAPITALISED = re.compile(r"^[A-Z][a-z]{2,}$")


def phrase(page: Page, lang: str, lo: int, hi: int) -> str:
    """``lo..hi`` whole English words, or a whole Chinese clause of ``2*lo..2*hi`` characters
    (the shortest clause met when none is that short; a generated field when a few corpus
    lines hold no clause at all)."""
    if lang == "en":   # "of the", "and so": a phrase neither starts nor ends with a function word
        words = page.words(lo, hi + 2).split()
        while len(words) > 1 and words[0].lower() in FUNCTION_WORDS:
            words.pop(0)
        while len(words) > 1 and words[-1].lower() in FUNCTION_WORDS:
            words.pop()
        return " ".join(words[:hi])
    best = ""
    for _ in range(8):
        clauses = [c for c in _CLAUSE_SPLIT.split(page.res.corpora["zh"].line(page.rng)) if WORDY.search(c)]
        fitting = [c for c in clauses if 2 * lo <= len(c) <= 2 * hi]
        if fitting:
            return fitting[page.integer(0, len(fitting) - 1)]
        best = min([best, *clauses], key=lambda c: (not c, len(c)))
    return best or page.number()


def name(page: Page, lang: str) -> str:
    """A person's name: a surname and a given name of corpus characters (Chinese), or an
    initial and a capitalised corpus word (English)."""
    if lang in ("zh", "mixed"):
        line = "".join(_CLAUSE_SPLIT.split(page.res.corpora["zh"].line(page.rng)))
        given = "".join(ch for ch in line if "\u4e00" <= ch <= "\u9fff")
        k = page.integer(1, 2)
        start = page.integer(0, max(0, len(given) - k))
        return SURNAMES_ZH[page.integer(0, len(SURNAMES_ZH) - 1)] + (given[start:start + k] or "明")
    raw = page.res.corpora["en"].line(page.rng).split()
    words = [w.strip(".,;:!?()[]\"'") for w in raw]
    # capitalised mid-sentence: likely a proper noun ("The" after a full stop is not)
    caps = [w for i, w in enumerate(words) if i and _CAPITALISED.match(w) and w.lower() not in FUNCTION_WORDS
            and not raw[i - 1].endswith((".", "!", "?", ":"))]
    caps = caps or [w.capitalize() for w in words if w.isalpha() and w.lower() not in FUNCTION_WORDS] or ["Smith"]
    surname = caps[page.integer(0, len(caps) - 1)]
    initial = chr(65 + page.integer(0, 25))
    return f"{surname}, {initial}." if page.rng.random() < 0.3 else f"{initial}. {surname}"


def field(page: Page, lang: str, kind: str) -> str:
    """One field of ``kind`` (:data:`TEXT_KINDS` or :data:`NUMBER_KINDS`)."""
    r = page.rng
    if kind == "phrase":
        return phrase(page, lang, 1, 3)
    if kind == "name":
        return name(page, lang)
    if kind == "amount":
        value = f"{r.uniform(0, 10000):,.2f}"
        return f"¥{value}" if lang in ("zh", "mixed") and r.random() < 0.5 else f"${value}"
    if kind == "number":
        return f"{int(r.integers(0, 100000)):,}" if r.random() < 0.5 else f"{r.uniform(0, 1000):.{page.integer(1, 2)}f}"
    if kind == "percent":
        return f"{r.uniform(-50, 100):.1f}%"
    if kind == "date":
        y, m, d = page.integer(1990, 2030), page.integer(1, 12), page.integer(1, 28)
        if lang in ("zh", "mixed") and r.random() < 0.5:
            return f"{y}年{m}月{d}日"
        return f"{y}-{m:02d}-{d:02d}" if r.random() < 0.6 else f"{d:02d}/{m:02d}/{y}"
    if kind == "quantity":
        units = UNITS["zh" if lang in ("zh", "mixed") and r.random() < 0.6 else "en"]
        amount = f"{r.uniform(0, 500):.1f}" if r.random() < 0.5 else str(page.integer(1, 999))
        unit = units[page.integer(0, len(units) - 1)]
        return f"{amount} {unit}" if unit.isascii() and unit[0].isalpha() else f"{amount}{unit}"
    if kind == "code":
        letters = "".join(chr(65 + page.integer(0, 25)) for _ in range(page.integer(1, 3)))
        return f"{letters}-{page.integer(100, 99999)}" if r.random() < 0.5 else f"{letters}{page.integer(100, 9999)}"
    raise ValueError(f"unknown field kind {kind!r}")


def column_kind(page: Page, first: bool) -> str:
    """What a table column holds: the first names its rows (a phrase or a name), the others
    are numbers of one kind six times in ten."""
    if first or page.rng.random() >= 0.6:
        return TEXT_KINDS[int(page.rng.random() < 0.3)]
    return NUMBER_KINDS[page.integer(0, len(NUMBER_KINDS) - 1)]
