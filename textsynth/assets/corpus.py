"""Corpus builders: documentation packages -> clean text lines for rendering (docs/architecture.md §1).

``build_corpus`` reads files of one *kind* (``html``, ``fortune``, ``man``, ``text``),
extracts raw text lines, cleans every line (NFC, no control/zero-width chars, collapsed
whitespace), splits over-long lines at sentence punctuation, filters by language and
writes the survivors, one per line, to a UTF-8 file (atomically: temp file + rename).

Every line that does not make it into the output is counted under a reason in
``stats["dropped"]``; files passed over (fortune ``.dat`` indexes, a second path to an
already-read file) are counted in ``stats["skipped_files"]``.

``is_hanzi`` / ``hanzi_ratio`` are public: the renderer reuses them for script detection.
"""

from __future__ import annotations

import gzip
import os
import re
import unicodedata
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from html.parser import HTMLParser
from pathlib import Path
from typing import Callable, Iterable, Iterator

from textsynth.synthesis.scripts import HAN_CLASS, HAN_RE, foreign_letters, is_han

__all__ = ["KINDS", "LANGS", "build_corpus", "clean_line", "split_long", "is_hanzi", "hanzi_ratio"]

LANGS = ("zh", "en")

# --------------------------------------------------------------------------- script helpers

_HANZI_CLASS = HAN_CLASS  # one definition of "Han" for the whole package
_HANZI_RE = HAN_RE
_SPACE_RE = re.compile(r"\s")
is_hanzi = is_han  # kept as the corpus API name


def hanzi_ratio(s: str) -> float:
    """Share of hanzi among the non-whitespace characters of ``s`` (0.0 for blank)."""
    # regex counting runs in C: far faster than a per-character Python loop
    visible = len(s) - len(_SPACE_RE.findall(s))
    return len(_HANZI_RE.findall(s)) / visible if visible else 0.0


# --------------------------------------------------------------------------- line cleaning

_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")  # colour codes in fortunes-zh
# C0/C1 controls except \t \n \r (they become spaces), zero-width chars, soft hyphen
_INVISIBLE_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u200b-\u200d\u2060\ufeff]")
_WS_RE = re.compile(r"\s+")
# List bullets and fortune attribution dashes are layout, not text ("-- Dave Barry").
_BULLET_RE = re.compile(r"^(?:[-*•◦‣·]+\s+)+")


def clean_line(s: str) -> str:
    """NFC, without ANSI escapes / control / zero-width chars, whitespace collapsed."""
    if "\x1b" in s:
        s = _ANSI_RE.sub("", s)
    # invisible chars go before NFC so a combining mark can compose with its base
    s = unicodedata.normalize("NFC", _INVISIBLE_RE.sub("", s))
    return _BULLET_RE.sub("", _WS_RE.sub(" ", s).strip())


# CJK sentence marks end a sentence anywhere; ASCII ones only before a space, the end or
# a CJK character (older Chinese translations use them), so "e.g. json.dump" or "3.14"
# are not split.
_ASCII_MARK_END = f"(?=\\s|$|[{_HANZI_CLASS}])"
_SENTENCE_END_RE = re.compile(f"[。！？；]+[”’」』）)]*|[.!?;]+[\"')\\]]*{_ASCII_MARK_END}")
_CLAUSE_END_RE = re.compile(f"[，、：]+|[,:]{_ASCII_MARK_END}")


def _cut_points(s: str, pattern: re.Pattern) -> list[int]:
    return [m.end() for m in pattern.finditer(s)]


def _pack(s: str, cuts: list[int], max_chars: int) -> list[str]:
    """Greedily merge the segments between ``cuts`` into pieces of at most max_chars."""
    pieces, start, last = [], 0, 0
    for cut in cuts + [len(s)]:
        if cut - start > max_chars and last > start:
            pieces.append(s[start:last].strip())
            start = last
        last = cut
    pieces.append(s[start:].strip())
    return [p for p in pieces if p]


def split_long(s: str, max_chars: int) -> list[str]:
    """Split ``s`` at sentence punctuation into pieces of at most ``max_chars``.

    A single sentence longer than max_chars is split at clause punctuation (，、：,:)
    instead; anything still too long is returned as is (the caller drops it), because a
    cut in the middle of a clause makes text no one would write.
    """
    if len(s) <= max_chars:
        return [s]
    out = []
    for sentence in _pack(s, _cut_points(s, _SENTENCE_END_RE), max_chars):
        if len(sentence) <= max_chars:
            out.append(sentence)
        else:
            out.extend(_pack(sentence, _cut_points(sentence, _CLAUSE_END_RE), max_chars))
    return out


# --------------------------------------------------------------------------- language filters

_LETTER_RE = re.compile(r"[A-Za-z]")
_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]")
# "_" is left out: identifiers such as __init__ read as words in prose
_CODE_SYMBOL_RE = re.compile(r"[{}\[\]<>=\\|$#@^~`*/&%+]")
_URL_RE = re.compile(r"(?:[a-z][a-z0-9+.-]*://|www\.)\S+|\S+@\S+\.\w+", re.I)


def _en_reject(s: str) -> str | None:
    visible = len(s) - s.count(" ")
    if len(_NON_ASCII_RE.findall(s)) > 0.1 * len(s):
        return "non_ascii"
    if len(_LETTER_RE.findall(s)) < 0.6 * visible:
        return "non_letters"
    if sum(len(m) for m in _URL_RE.findall(s)) > 0.3 * visible:
        return "url"
    symbols = len(_CODE_SYMBOL_RE.findall(s))
    if symbols > 2 and symbols > 0.05 * visible:  # a pair of brackets is still prose
        return "code_like"
    return None


_BOX_DRAWING_RE = re.compile("[\u2500-\u257f]")


def _line_filter(lang: str, min_hanzi_ratio: float) -> Callable[[str], str | None]:
    """Return a function mapping a line to a drop reason, or None to keep it."""
    if lang == "zh":
        reject = lambda s: "low_hanzi" if hanzi_ratio(s) < min_hanzi_ratio else None  # noqa: E731
    elif lang == "en":
        reject = _en_reject
    else:
        raise ValueError(f"unknown lang {lang!r}; expected one of {LANGS}")
    # the renderer refuses letters of other scripts in this language's corpus: leave them out
    return lambda s: reject(s) or ("unsupported_script" if foreign_letters(s, lang) else None)


# --------------------------------------------------------------------------- decoding

def decode_bytes(data: bytes, path: Path, fallbacks: tuple[str, ...] = ("gb18030",)) -> str:
    """UTF-8 (BOM tolerated), else the first fallback that decodes strictly."""
    for encoding in ("utf-8-sig",) + fallbacks:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValueError(f"{path}: not valid UTF-8 or {', '.join(fallbacks)}")


# Joining wrapped source lines: no space between two wide (CJK) characters, a space
# otherwise -- the way the text reads when it is not wrapped.
_WIDE_CLASS = "\u2e80-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
_WRAP_RE = re.compile(f"(?<=[{_WIDE_CLASS}])[ \\t]*\\n\\s*(?=[{_WIDE_CLASS}])")


def join_wrapped(lines: Iterable[str]) -> str:
    return _WS_RE.sub(" ", _WRAP_RE.sub("", "\n".join(lines))).strip()


def display_width(s: str) -> int:
    """Terminal columns: East Asian wide/fullwidth characters count 2."""
    return len(s) + sum(1 for ch in s if ch > "\u10ff" and unicodedata.east_asian_width(ch) in "WF")


# --------------------------------------------------------------------------- html

_SKIP_TAGS = frozenset(
    "script style head nav pre footer header aside noscript template svg math button "
    "select textarea form iframe object".split()
)
_BLOCK_TAGS = frozenset(
    "p h1 h2 h3 h4 h5 h6 li td th dt dd div br tr table ul ol dl blockquote caption "
    "figcaption section article main body hr title address center".split()
)
_VOID_TAGS = frozenset("area base br col embed hr img input link meta source track wbr".split())
# class/id/role tokens of navigation and boilerplate in Sphinx, DocBook and LibreOffice help
_BOILERPLATE_MARKERS = frozenset(
    "navigation related sphinxsidebar sphinxsidebarwrapper footer header headerlink "
    "mobile-nav menu-wrapper menu inline-search breadcrumb breadcrumbs navheader navfooter "
    "toc debug searchframe donationframe contents-treeview topleftheader bookmarks index "
    "skip-link copyright".split()
)
# Copyright notices start with the word; elsewhere "copyright" is ordinary prose.
_BOILERPLATE_TEXT_RE = re.compile(
    r"^(?:©|\(c\)\s*\d|copyright\b)|all rights reserved|版权所有|permalink|powered by|"
    r"last updated|this page is licensed|found a bug\?",
    re.I,
)
LINK_LINE_MAX_CHARS = 60  # a mostly-link block this short is a menu/breadcrumb/TOC entry
LINK_LINE_RATIO = 0.6


def _is_link_line(text: str, link_chars: int) -> bool:
    short = len(text) <= LINK_LINE_MAX_CHARS
    return short and link_chars >= LINK_LINE_RATIO * (len(text) - text.count(" "))


def _is_boilerplate_element(attrs: list[tuple[str, str | None]]) -> bool:
    for name, value in attrs:
        if name in ("class", "id", "role") and value:
            if any(tok in _BOILERPLATE_MARKERS for tok in value.lower().split()):
                return True
    return False


class _HtmlBlocks(HTMLParser):
    """Collects text blocks as (text, chars inside <a>), skipping boilerplate subtrees."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, int]] = []
        self._buf: list[str] = []
        self._link_chars = 0
        self._in_link = 0
        self._skip_tag: str | None = None  # tag whose subtree is being skipped
        self._skip_depth = 0

    def handle_starttag(self, tag, attrs):
        if self._skip_tag:
            self._skip_depth += tag == self._skip_tag
            return
        if tag not in _VOID_TAGS and (tag in _SKIP_TAGS or _is_boilerplate_element(attrs)):
            self._flush()
            self._skip_tag, self._skip_depth = tag, 1
        elif tag in _BLOCK_TAGS:
            self._flush()
        elif tag == "a":
            self._in_link += 1

    def handle_endtag(self, tag):
        if self._skip_tag:
            if tag == self._skip_tag:
                self._skip_depth -= 1
                if self._skip_depth == 0:
                    self._skip_tag = None
            return
        if tag in _BLOCK_TAGS:
            self._flush()
        elif tag == "a":
            self._in_link = max(0, self._in_link - 1)

    def handle_data(self, data):
        if self._skip_tag:
            return
        self._buf.append(data)
        if self._in_link:
            self._link_chars += len(data.strip())

    def close(self):
        super().close()
        self._flush()

    def _flush(self):
        if self._buf:
            text = join_wrapped(["".join(self._buf)])
            if text:
                self.blocks.append((text, self._link_chars))
        self._buf, self._link_chars = [], 0


_META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_-]+)""", re.I)


def _decode_html(data: bytes, path: Path) -> str:
    m = _META_CHARSET_RE.search(data[:4096])
    declared = m.group(1).decode("ascii").lower() if m else None
    if declared and declared not in ("utf-8", "utf8"):
        try:
            return data.decode(declared)
        except (LookupError, UnicodeDecodeError):
            pass  # a wrong declaration is common; fall back to detection
    return decode_bytes(data, path)


# html.parser is pure Python and dominates the build time; Sphinx pages hold ~half their
# tags in <span>/<code>/<em>. Inline tags never start a line or a skipped subtree, and
# <head>/<script>/<style>/<pre> (never nested) are skipped whole, and empty <a name=...>
# anchors hold no text, so all of these can go by regex first.
_INLINE_TAG_RE = re.compile(
    r"</?(?:span|code|em|strong|b|i|u|tt|kbd|var|samp|sup|sub|small|big|abbr|cite|bdi|font)"
    r"\b[^>]*>",
    re.I,
)
_OPAQUE_BLOCK_RE = re.compile(r"<(script|style|pre|head)\b.*?</\1\s*>", re.I | re.S)
_EMPTY_ANCHOR_RE = re.compile(r"<a\s[^>]*>\s*</a>|<a\s[^>]*/>", re.I)  # bookmark targets


def _prestrip_html(html: str) -> str:
    html = _OPAQUE_BLOCK_RE.sub("<br>", html)
    return _EMPTY_ANCHOR_RE.sub("", _INLINE_TAG_RE.sub("", html))


def html_lines(data: bytes, path: Path, dropped: Counter) -> Iterator[str]:
    """Paragraph/heading/list/table-cell text of an HTML page, one block per line."""
    parser = _HtmlBlocks()
    parser.feed(_prestrip_html(_decode_html(data, path)))
    parser.close()
    for text, link_chars in parser.blocks:
        if _BOILERPLATE_TEXT_RE.search(text):
            dropped["boilerplate"] += 1
        elif _is_link_line(text, link_chars):
            dropped["link_line"] += 1
        else:
            yield text


# --------------------------------------------------------------------------- fortune

FORTUNE_WRAP_COLS = 50  # a line at least this wide was wrapped by the author's editor
_ATTRIBUTION_RE = re.compile(r"^\s*(?:--|—|――)")


def _fortune_paragraph(lines: list[str]) -> Iterator[str]:
    """Re-join soft-wrapped prose; short lines (verse) and attributions stay separate."""
    group: list[str] = []
    for line in lines:
        continues = (
            group
            and display_width(group[-1].rstrip()) >= FORTUNE_WRAP_COLS
            and not _ATTRIBUTION_RE.match(line)
        )
        if group and not continues:
            yield join_wrapped(group)
            group = []
        group.append(line)
    if group:
        yield join_wrapped(group)


def fortune_lines(data: bytes, path: Path, dropped: Counter) -> Iterator[str]:
    """Fortunes are separated by lines holding just '%'; blank lines split paragraphs."""
    text = _ANSI_RE.sub("", decode_bytes(data, path))
    paragraph: list[str] = []
    for line in text.splitlines() + ["%"]:
        if line.strip() in ("%", ""):
            yield from _fortune_paragraph(paragraph)
            paragraph = []
        else:
            paragraph.append(line.expandtabs())


# --------------------------------------------------------------------------- man (groff)

_GROFF_SPECIAL = {
    "bu": "•", "em": "—", "en": "–", "hy": "-", "mi": "-", "lq": "“", "rq": "”",
    "oq": "‘", "cq": "’", "dq": '"', "aq": "'", "co": "©", "rg": "®", "tm": "™",
    "mu": "×", "di": "÷", "de": "°", "+-": "±", "<=": "≤", ">=": "≥", "!=": "≠",
    "->": "→", "<-": "←", "ti": "~", "ha": "^", "rs": "\\", "sl": "/", "ba": "|",
    "lB": "[", "rB": "]", "lC": "{", "rC": "}", "la": "⟨", "ra": "⟩", "ga": "`", "aa": "´",
}
_GROFF_SINGLE = {
    "-": "-", "e": "\\", "\\": "\\", " ": " ", "~": " ", "0": " ", "'": "'", "`": "`", ".": ".",
}
_GROFF_ESCAPE_RE = re.compile(
    r"""\\(?:
        \((?P<two>..)                                 # \(bu  special character
      | \[(?P<named>[^\]]*)\]                         # \[bu] special character
      | [fFkmMYgnV*][+-]?(?:\(..|\[[^\]]*\]|.)        # font, string, register, colour...
      | s[+-]?(?:\(\d\d|\[\d+\]|\d)                   # point size
      | [hvwoblLxDNSXRAZ]'[^']*'                      # motions, widths, device controls
      | (?P<one>.)                                    # one-character escapes
    )""",
    re.X,
)
_GROFF_COMMENT_RE = re.compile(r'(?<!\\)\\".*$')
_GROFF_COMMENT_LINE_RE = re.compile(r'^[.\']\s*\\"')
_GROFF_ARG_RE = re.compile(r'"([^"]*)"?|(\S+)')
_FONT_MACROS = {"B": " ", "I": " ", "SM": " ", "SB": " ",  # args joined by a space
                "BR": "", "RB": "", "BI": "", "IB": "", "IR": "", "RI": ""}  # alternating: no space
_BREAK_REQUESTS = frozenset("PP P LP TP TQ IP HP br sp RS RE in ti ne bp SY YS OP".split())
_SKIPPED_BLOCKS = {"de": "..", "am": "..", "ig": "..", "TS": ".TE", "EQ": ".EN",
                   "EX": ".EE", "PS": ".PE", "GS": ".GE"}


def _groff_unescape(s: str) -> str:
    def repl(m: re.Match) -> str:
        if m.group("two") is not None:
            return _GROFF_SPECIAL.get(m.group("two"), "")
        if m.group("named") is not None:
            return _GROFF_SPECIAL.get(m.group("named"), "")
        if m.group("one") is not None:
            return _GROFF_SINGLE.get(m.group("one"), "")  # \& \c \| \^ \, \/ ... are invisible
        return ""

    return _GROFF_ESCAPE_RE.sub(repl, s)


def _groff_args(rest: str) -> list[str]:
    """Request arguments: space-separated, "double quoted" when they contain spaces."""
    return [bare or quoted for quoted, bare in _GROFF_ARG_RE.findall(rest)]


class _ManReader:
    """A tiny groff interpreter: enough state to turn man(7) source into prose lines."""

    def __init__(self) -> None:
        self.fill = True  # .nf/.fi: in no-fill mode every source line is an output line
        self.paragraph: list[str] = []
        self.tag_pending = False  # the line after .TP is a tag, printed on its own
        self.block_end: str | None = None

    def flush(self) -> Iterator[str]:
        if self.paragraph:
            yield join_wrapped(self.paragraph)
            self.paragraph = []

    def text(self, line: str) -> Iterator[str]:
        if self.tag_pending or not self.fill:
            self.tag_pending = False
            yield from self.flush()
            yield line
        else:
            self.paragraph.append(line)

    def request(self, name: str, rest: str) -> Iterator[str]:
        if name in _SKIPPED_BLOCKS:
            yield from self.flush()
            self.block_end = _SKIPPED_BLOCKS[name]
        elif name in _FONT_MACROS:
            args = [_groff_unescape(a) for a in _groff_args(rest)]
            if args:
                yield from self.text(_FONT_MACROS[name].join(args))
        elif name in ("SH", "SS"):
            yield from self.flush()
            yield _groff_unescape(" ".join(_groff_args(rest)))
        elif name in ("nf", "fi") or name in _BREAK_REQUESTS:
            yield from self.flush()
            self.fill = {"nf": False, "fi": True}.get(name, self.fill)
            self.tag_pending = name == "TP"
            if name == "IP" and rest.strip():  # .IP tag indent: the tag (a bullet, "1.")
                yield _groff_unescape(_groff_args(rest)[0])
        # every other request (.TH, .so, .ad, .ds, .nr, .UR ...) produces no text

    def line(self, raw: str) -> Iterator[str]:
        if self.block_end:
            if raw.startswith(self.block_end):
                self.block_end = None
            return
        if _GROFF_COMMENT_LINE_RE.match(raw):
            return  # a comment line is not a blank line: it must not break the paragraph
        raw = _GROFF_COMMENT_RE.sub("", raw)
        if raw[:1] in (".", "'"):
            name, rest = (raw[1:].split(None, 1) + ["", ""])[:2]
            yield from self.request(name, rest)
        elif not raw.strip():
            yield from self.flush()  # a blank line is a paragraph break in groff
        else:
            yield from self.text(_groff_unescape(raw))


# Older manpages-zh translations put a space between every word ("把 xxd 当成 一个 过滤
# 程序 来用"); Chinese is written without them.
_SPACE_BETWEEN_HANZI_RE = re.compile(f"(?<=[{_HANZI_CLASS}]) +(?=[{_HANZI_CLASS}])")


def _man_page_lines(text: str) -> Iterator[str]:
    reader = _ManReader()
    for raw in text.splitlines():
        yield from reader.line(raw)
    yield from reader.flush()


def man_lines(data: bytes, path: Path, dropped: Counter) -> Iterator[str]:
    """Prose of a (gzipped) groff man page."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    text = decode_bytes(data, path, fallbacks=("gb18030", "big5"))
    for line in _man_page_lines(text):
        yield _SPACE_BETWEEN_HANZI_RE.sub("", line)


# --------------------------------------------------------------------------- text

def text_lines(data: bytes, path: Path, dropped: Counter) -> Iterator[str]:
    return iter(decode_bytes(data, path, fallbacks=()).splitlines())


_EXTRACTORS = {"html": html_lines, "fortune": fortune_lines, "man": man_lines, "text": text_lines}
KINDS = tuple(_EXTRACTORS)


# --------------------------------------------------------------------------- build

def _unique_files(files: Iterable[Path], kind: str, skipped: Counter) -> Iterator[Path]:
    """Each real file once (fortune .u8 and man pages are often symlinks to another)."""
    seen: set[Path] = set()
    for path in map(Path, files):
        if kind == "fortune" and path.suffix == ".dat":
            skipped["fortune_index"] += 1  # binary strfile(1) index, not text
            continue
        real = path.resolve()
        if real in seen:
            skipped["same_file"] += 1
            continue
        seen.add(real)
        yield path


@dataclass(frozen=True)
class _LineRules:
    """Per-line cleaning and filtering; everything except de-duplication."""

    lang: str
    min_chars: int
    max_chars: int
    min_hanzi_ratio: float

    def pieces(self, raw: str, dropped: Counter) -> Iterator[str]:
        line = clean_line(raw)
        if not line:
            dropped["empty"] += 1
            return
        reject = _line_filter(self.lang, self.min_hanzi_ratio)
        for piece in split_long(line, self.max_chars):
            if len(piece) < self.min_chars:
                reason = "too_short"
            elif _BOX_DRAWING_RE.search(piece):
                reason = "box_drawing"  # a row of a text-mode table
            elif len(piece) > self.max_chars:
                reason = "too_long"  # one clause longer than max_chars: no clean place to cut
            else:
                reason = reject(piece)
            if reason:
                dropped[reason] += 1
            else:
                yield piece


def _process_file(kind: str, rules: _LineRules, path: Path) -> tuple[int, list[str], Counter]:
    """(raw line count, kept pieces, drop counts) for one file."""
    dropped: Counter = Counter()
    raw_lines = list(_EXTRACTORS[kind](path.read_bytes(), path, dropped))
    n_raw = len(raw_lines) + sum(dropped.values())  # the extractor's own rejects count too
    kept = [piece for raw in raw_lines for piece in rules.pieces(raw, dropped)]
    return n_raw, kept, dropped


POOL_MIN_FILES = 64  # below this a process pool costs more than it saves


def _processed(paths: list[Path], kind: str, rules: _LineRules, workers: int):
    """_process_file over paths, in input order; html.parser is slow enough to spread over cores."""
    work = partial(_process_file, kind, rules)
    if workers <= 1 or len(paths) < POOL_MIN_FILES:
        yield from map(work, paths)
        return
    with ProcessPoolExecutor(workers) as pool:
        yield from pool.map(work, paths, chunksize=16)


def build_corpus(
    files: Iterable[Path],
    kind: str,
    lang: str,
    out: Path,
    *,
    min_chars: int = 4,
    max_chars: int = 200,
    min_hanzi_ratio: float = 0.6,
    workers: int | None = None,
) -> dict:
    """Extract, clean, filter and de-duplicate lines from ``files`` into ``out``.

    Returns ``{"files", "lines_in", "lines_out", "chars_out", "dropped", "skipped_files"}``.
    ``lines_in`` counts the raw lines the extractor produced (including those it rejected
    itself: ``boilerplate``, ``link_line``). A raw line is written, dropped, or split into
    pieces each written or dropped, so ``dropped`` counts pieces.

    Raises ValueError if no line survives: an empty corpus is a configuration error, not
    something to render from. ``workers`` processes extract files in parallel (default: up
    to 8 CPUs); the output does not depend on it.
    """
    if kind not in _EXTRACTORS:
        raise ValueError(f"unknown corpus kind {kind!r}; expected one of {KINDS}")
    _line_filter(lang, min_hanzi_ratio)  # fail on a bad lang before reading anything
    rules = _LineRules(lang, min_chars, max_chars, min_hanzi_ratio)
    workers = min(os.cpu_count() or 1, 8) if workers is None else workers
    out = Path(out)
    dropped: Counter = Counter()
    skipped: Counter = Counter()
    seen: set[str] = set()
    paths = list(_unique_files(files, kind, skipped))
    lines_in = lines_out = chars_out = 0

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            for n_raw, pieces, file_dropped in _processed(paths, kind, rules, workers):
                lines_in += n_raw
                dropped.update(file_dropped)
                for piece in pieces:
                    if piece in seen:
                        dropped["duplicate"] += 1
                        continue
                    seen.add(piece)
                    fh.write(piece + "\n")
                    lines_out += 1
                    chars_out += len(piece)
        if lines_out == 0:
            raise ValueError(
                f"corpus {out.name}: no line survived cleaning ({len(paths)} {kind} files, "
                f"{lines_in} raw lines, dropped {dict(dropped)})"
            )
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)

    return {
        "files": len(paths),
        "lines_in": lines_in,
        "lines_out": lines_out,
        "chars_out": chars_out,
        "dropped": dict(sorted(dropped.items())),
        "skipped_files": dict(sorted(skipped.items())),
    }
