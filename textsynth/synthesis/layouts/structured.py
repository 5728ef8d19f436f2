"""Structured templates: text in cells, fields and labelled regions.

``table``    a header row and rows of words and numbers, ruled or not, columns aligned
``form``     key-value fields: labels, values, underlines or boxes
``slide``    a title (upper half of the bucket) over a bar, then bulleted points
``caption``  a few short labels placed on regions of the photo (sparse by design)
"""

from __future__ import annotations

from textsynth.synthesis.layouts import fields
from textsynth.synthesis.layouts.common import Page
from textsynth.synthesis.layouts.documents import _BULLETS, _bold, _heading


def table(page: Page) -> None:
    m = page.margin
    lang, px = page.lang(), page.px()
    n_cols = page.integer(2, max(2, min(5, (page.W - 2 * m) // (px * 5))))  # cells of ~5 px-widths
    kinds = [fields.column_kind(page, c == 0) for c in range(n_cols)]
    numeric = [k in fields.NUMBER_KINDS for k in kinds]
    n_rows = max(2, (page.H - 2 * m) // max(4, round(px * 1.6)) + 1)

    def cells():   # a header of short phrases over rows of whole fields, one kind per column
        head = [fields.phrase(page, lang, 1, 2) for _ in range(n_cols)]
        body = [[fields.field(page, lang, kinds[c]) for c in range(n_cols)] for _ in range(n_rows)]
        return [head] + body

    rows, style = page.style(lambda: [c for r in cells() for c in r], lang, px)
    rows = [rows[i:i + n_cols] for i in range(0, len(rows), n_cols)]
    pad = max(2, px // 2)
    widths = [max(style.width(r[c]) for r in rows) + 2 * pad for c in range(n_cols)]
    avail = page.W - 2 * m
    while sum(widths) > avail and n_cols > 1:   # drop columns rather than cut cells
        page.count("table_column_dropped")
        n_cols -= 1
        widths, rows, numeric, kinds = widths[:n_cols], [r[:n_cols] for r in rows], numeric[:n_cols], kinds[:n_cols]
    widths = [min(w, avail) for w in widths]
    ruled = page.rng.random() < 0.6
    verticals = ruled and page.rng.random() < 0.5
    spacing = page.uniform(1.2, 1.7)
    pitch = style.pitch(spacing)
    block = page.block(role="table", lang=lang, font=style.font, px=px, columns=n_cols, ruled=ruled)
    x0 = m + (avail - sum(widths)) // 2
    edges = [x0]
    for w in widths:
        edges.append(edges[-1] + w)
    thick = max(1, px // 6)
    y = m
    for r, row in enumerate(rows):
        if y + pitch > page.H - m:
            break
        top = y + (pitch - style.ascent - style.descent) // 2
        for c, cell in enumerate(row):
            # a phrase loses whole words; a name, number, date or code is placed whole or not at all
            text = page.fit(style, cell, widths[c] - 2 * pad) if kinds[c] == "phrase" or r == 0 else \
                (cell if page.fits(style, cell, widths[c] - 2 * pad) else "")
            if not text.strip():
                page.count("table_cell_too_wide")
                continue
            adv = style.raster.shape(text, style.em).advance
            x = edges[c + 1] - pad - adv if numeric[c] and r else edges[c] + pad
            page.place(block, style, text, x, top + style.ascent)
        y += pitch
        if ruled or r == 0:
            page.rule(block, edges[0], y, edges[-1], y + (thick + 1 if r == 0 else thick))
            y += thick + 1
    if ruled:
        page.rule(block, edges[0], m - thick, edges[-1], m)
    if verticals:
        for e in edges:
            page.rule(block, e, m - thick, e + thick, y)


def form(page: Page) -> None:
    m = page.margin
    lang, px = page.lang(), page.px()
    n = 30
    colon = "：" if lang in ("zh", "mixed") else ":"

    kinds = [fields.TEXT_KINDS[page.integer(0, 1)] if page.rng.random() < 0.6 else
             fields.NUMBER_KINDS[page.integer(0, len(fields.NUMBER_KINDS) - 1)] for _ in range(n)]

    def entries():   # labels are short phrases, values whole fields
        return [fields.phrase(page, lang, 1, 3) + colon for _ in range(n)] + \
               [fields.field(page, lang, k) for k in kinds]

    both, style = page.style(entries, lang, px)
    labels, values = both[:n], both[n:]
    boxed = page.rng.random() < 0.4
    spacing = page.uniform(1.5, 2.2)
    pitch = style.pitch(spacing)
    label_w = min((page.W - 2 * m) // 2, max(style.width(t) for t in labels[:8]) + px)
    n_cols = 2 if page.W - 2 * m >= 2 * (label_w + 12 * px) else 1
    col_w = (page.W - 2 * m) // n_cols
    block = page.block(role="form", lang=lang, font=style.font, px=px, boxed=boxed)
    right_align = page.rng.random() < 0.5
    i = 0
    for col in range(n_cols):
        y, x = m, m + col * col_w
        while y + pitch <= page.H - m and i < n:
            base = y + (pitch + style.ascent - style.descent) // 2
            label = page.fit(style, labels[i].removesuffix(colon), label_w - px // 2 - style.width(colon))
            if label:   # a label trimmed to whole words keeps its colon
                label += colon
                lw = style.raster.shape(label, style.em).advance
                page.place(block, style, label, x + (label_w - px // 2 - lw if right_align else 0), base)
            vx, vw = x + label_w, col_w - label_w - px
            value = page.fit(style, values[i], vw - px) if kinds[i] == "phrase" else \
                (values[i] if page.fits(style, values[i], vw - px) else "")
            if value:   # a value that does not fit whole leaves the field blank
                page.place(block, style, value, vx + px // 2, base)
            else:
                page.count("form_value_too_wide")
            if boxed:
                t = y + 1
                for box in ((vx, t, vx + vw, t + 1), (vx, y + pitch - 2, vx + vw, y + pitch - 1),
                            (vx, t, vx + 1, y + pitch - 1), (vx + vw - 1, t, vx + vw, y + pitch - 1)):
                    page.rule(block, *box)
            else:
                under = base + style.descent + 1
                page.rule(block, vx, under, vx + vw, under + 1)
            y += pitch
            i += 1


def slide(page: Page) -> None:
    m = page.margin
    lang = page.lang()
    y, title_block = _heading(page, lang, m, m, page.W - 2 * m)
    if title_block is not None and page.rng.random() < 0.6:
        bar = max(2, page.hi // 4)
        page.rule(title_block, m, y + 1, page.W - m, y + 1 + bar)
        y += bar + 2
    y += page.hi
    px = page.px("low")
    bullet = _BULLETS[page.integer(0, 2)]
    items, style = page.style(lambda: [fields.phrase(page, lang, 3, 12) for _ in range(12)] + [bullet], lang, px)
    block = page.block(role="bullets", lang=lang, font=style.font, px=px)
    spacing = page.uniform(1.1, 1.4)
    pitch = style.pitch(spacing)
    mark = bullet + " "
    indent = style.width(mark) + px
    for item in items[:12]:
        lines = page.wrap(style, item, page.W - 2 * m - indent - px, 2)
        if not lines or y + style.ascent + style.descent > page.H - m:
            break
        page.place(block, style, mark + lines[0], m + px, y + style.ascent)
        y = page.paragraph(block, style, lines[1:], m + indent, y + pitch, page.W - 2 * m - indent, spacing)
        y += round(pitch * 0.6)


def caption(page: Page) -> None:
    """Short labels at random places (signs, captions, annotations over a photo)."""
    m = page.margin
    taken: list[tuple[int, int, int, int]] = []
    for _ in range(page.integer(1, 4)):
        lang, px = page.lang(), page.px()
        text, style = page.style(lambda: fields.phrase(page, lang, 1, 6), lang, px,
                                 prefer=_bold if page.rng.random() < 0.5 else None)
        lines = page.wrap(style, text, page.W - 2 * m, 2)
        if not lines:
            continue
        w = max(style.raster.shape(t, style.em).advance for t in lines)
        h = style.ascent + style.descent + style.pitch(1.1) * (len(lines) - 1)
        if w > page.W - 2 * m or h > page.H - 2 * m:
            continue
        x = page.integer(m, page.W - m - w)
        y = page.integer(m, page.H - m - h)
        if any(x < bx1 + px and bx0 < x + w + px and y < by1 + px and by0 < y + h + px
               for bx0, by0, bx1, by1 in taken):
            page.count("caption_overlap")   # labels never overlap: their boxes stay readable
            continue
        taken.append((x, y, x + w, y + h))
        block = page.block(role="caption", lang=lang, font=style.font, px=px)
        page.paragraph(block, style, lines, x, y, w, 1.1, "left")
