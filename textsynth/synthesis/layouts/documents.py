"""Document templates: text that fills the canvas the way pages, posters and slides do.

``dense``    body text filling the canvas, ragged or justified, paragraphs indented or spaced
``columns``  2-3 columns with gutters, an optional heading across them
``heading``  section headings (upper half of the size bucket, bold faces preferred) + body
``lists``    bulleted or numbered items with hanging indents

Every template keeps all sizes inside the sample's bucket, so ``char_px`` and
``size_bucket`` stay exact; each block has one face, one size and one colour.
"""

from __future__ import annotations

from textsynth.synthesis.layouts import fields
from textsynth.synthesis.layouts.common import Page, Style


def _bold(face) -> bool:
    return any(w in face.style.lower() for w in ("bold", "black", "heavy", "semibold"))


def _chars_needed(px: int, lang: str, width: int, height: int) -> int:
    """About how many characters fill ``width`` x ``height`` at ``px`` (ink height), plus a
    margin: Latin runs ~0.45 em per character, Han 1 em; em is ~1.4 px (Latin), ~1.1 px (Han)."""
    em = px * (1.4 if lang == "en" else 1.1)
    per_line = width / (em * (0.45 if lang == "en" else 1.0))
    return int(per_line * height / (em * 1.2) * 1.6) + 40


def _paragraphs(page: Page, lang: str, total: int) -> list[str]:
    """1-4 paragraphs, together at least ``total`` characters (a corpus passage can end
    short of its target at the corpus's end, so the last one tops up)."""
    k = page.integer(1, 4)
    paras = [page.corpus_text(lang, max(20, total // k)) for _ in range(k)]
    while sum(len(p) for p in paras) < total and len(paras) < 12:
        paras.append(page.corpus_text(lang, total - sum(len(p) for p in paras)))
    return paras


def _body(page: Page, lang: str, px: int, width: int, height: int, prefer=None) -> tuple[list[str], Style]:
    paras, style = page.style(lambda: _paragraphs(page, lang, _chars_needed(px, lang, width, height)),
                              lang, px, prefer)
    return paras, style


def dense(page: Page) -> None:
    m = page.margin
    lang, px = page.lang(), page.px()
    width, spacing = page.W - 2 * m, page.uniform(1.0, 1.2)
    justify = page.rng.random() < 0.5
    paras, style = _body(page, lang, px, width, page.H - 2 * m)
    indent = style.em * 2 if page.rng.random() < 0.5 else 0
    block = page.block(role="body", lang=lang, font=style.font, px=px, justify=justify)
    wrapped = [_wrap_indented(page, style, p, width, indent) for p in paras]
    page.flow(block, style, [w for w in wrapped if w], [(m, m, width, page.H - m)], spacing,
              justify, para_gap=0.0 if indent else 0.6, indent=indent)


def _wrap_indented(page: Page, style: Style, text: str, width: int, indent: int) -> list[str]:
    """Wrap with the first line ``indent`` px narrower (``flow`` starts it at the indent)."""
    if not indent:
        return page.wrap(style, text, width)
    first = page.wrap(style, text, width - indent, 1)
    if not first:
        return []
    return first[:1] + page.wrap(style, text[text.find(first[0]) + len(first[0]):].lstrip(), width)


def columns(page: Page) -> None:
    m = page.margin
    lang, px = page.lang(), page.px("low")
    n = page.integer(2, 3)
    gutter = max(6, round(px * page.uniform(1.0, 2.0)))
    top = m
    if page.rng.random() < 0.5:
        top = _heading(page, lang, m, m, page.W - 2 * m)[0] + round(px * 0.8)
    col_w = (page.W - 2 * m - (n - 1) * gutter) // n
    if col_w < 6 * px:
        n, col_w = 1, page.W - 2 * m
    spacing, justify = page.uniform(1.0, 1.2), page.rng.random() < 0.5
    paras, style = _body(page, lang, px, col_w * n, page.H - top - m)
    block = page.block(role="body", lang=lang, font=style.font, px=px, columns=n, justify=justify)
    rects = [(m + i * (col_w + gutter), top, col_w, page.H - m) for i in range(n)]
    page.flow(block, style, [w for w in (page.wrap(style, p, col_w) for p in paras) if w], rects,
              spacing, justify)
    if page.rng.random() < 0.5:   # a rule in each gutter
        for i in range(1, n):
            x = m + i * (col_w + gutter) - gutter // 2
            page.rule(block, x, top, x + 1, page.H - m)


def _heading(page: Page, lang: str, x: int, top: int, width: int) -> tuple[int, int | None]:
    """One or two heading lines (upper half of the bucket, bold preferred); returns the y
    below them and the heading's block (None if nothing fitted)."""
    px = page.px("high")
    text, style = page.style(lambda: fields.phrase(page, lang, 2, 8), lang, px, prefer=_bold)
    lines = page.wrap(style, text, width, 2)[:2]
    if not lines:
        return top, None
    block = page.block(role="heading", lang=lang, font=style.font, px=px)
    align = "center" if page.rng.random() < 0.3 else "left"
    y = page.paragraph(block, style, lines, x, top, width, 1.1, align)
    if page.rng.random() < 0.4:   # underline the heading
        page.rule(block, x, y, x + width, y + max(1, px // 8))
        y += max(1, px // 8) + 1
    return y, block


def heading(page: Page) -> None:
    m = page.margin
    lang = page.lang()
    y = m
    while y < page.H - m - 2 * page.hi:
        y = _heading(page, lang, m, y, page.W - 2 * m)[0] + round(page.lo * 0.5)
        px = page.px("low")
        section = page.integer(3, 8)   # body lines in this section
        spacing = page.uniform(1.0, 1.2)
        paras, style = _body(page, lang, px, page.W - 2 * m, section * px * 2)
        block = page.block(role="body", lang=lang, font=style.font, px=px)
        joined = (" " if lang == "en" else "").join(paras)
        lines = page.wrap(style, joined, page.W - 2 * m, section)[:section]
        y = page.paragraph(block, style, lines, m, y, page.W - 2 * m, spacing) + round(px * 0.8)
        if not lines:
            break


_BULLETS = ["•", "◦", "–", "▪", "·", "*"]


def lists(page: Page) -> None:
    m = page.margin
    lang, px = page.lang(), page.px()
    kind = ["bullet", "number", "paren", "letter"][page.integer(0, 3)]
    spacing, gap = page.uniform(1.0, 1.2), page.uniform(0.0, 0.4)
    x = m + page.integer(0, 2) * px
    width = page.W - m - x
    bullet = _BULLETS[page.integer(0, len(_BULLETS) - 1)]
    n_items = 40
    items, style = page.style(lambda: [page.corpus_text(lang, page.integer(15, 120))
                                       for _ in range(n_items)] + [bullet], lang, px)
    block = page.block(role="list", lang=lang, font=style.font, px=px, marker=kind)
    pitch = style.pitch(spacing)
    y = m
    for i, item in enumerate(items[:n_items]):
        mark = {"bullet": bullet, "number": f"{i + 1}.", "paren": f"{i + 1})",
                "letter": f"{chr(97 + i % 26)}."}[kind] + " "
        indent = style.width(mark if kind == "bullet" else "00. ")
        lines = page.wrap(style, item, width - indent, page.integer(1, 3))
        if not lines or y + style.ascent + style.descent > page.H - m:
            break
        # the marker leads the first line's text; continuation lines hang at the indent
        page.place(block, style, mark + lines[0], x + indent - style.width(mark), y + style.ascent)
        y = page.paragraph(block, style, lines[1:], x + indent, y + pitch, width - indent, spacing)
        y += round(pitch * gap)
