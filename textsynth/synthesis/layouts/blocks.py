"""``blocks``: free-floating blocks of lines (the original template, and the default).

``layout.lines`` lines in ``layout.blocks`` blocks; each block has its own language, face,
size, alignment, width and horizontal position; blocks are stacked with random gaps. Text
is sparse (a few dozen characters per 256x256), which is what labels, signs and captions on
photos look like. Its random draws are in the order of recipe version 1, so a config that
uses only this template renders the same pixels as before templates existed.
"""

from __future__ import annotations

import numpy as np

from textsynth.synthesis.layouts.common import Page, Skip, choice


def _split(rng: np.random.Generator, total: int, parts: int) -> list[int]:
    """A random composition of ``total`` into ``parts`` positive integers."""
    cuts = np.sort(rng.choice(np.arange(1, total), size=parts - 1, replace=False)) if parts > 1 else []
    edges = [0, *cuts.tolist(), total] if parts > 1 else [0, total]
    return [b - a for a, b in zip(edges, edges[1:])]


def _block_text(page: Page, lang: str, mode: str, n_lines: int) -> str | list[str]:
    res, rng = page.res, page.rng
    if lang == "mixed":  # one Chinese line with an English phrase in it
        return page.with_english(res.corpora["zh"].line(rng))
    corpus = res.corpora[lang]
    if mode == "paragraph":
        return corpus.passage(rng, min_chars=n_lines * 60)
    return [corpus.line(rng) for _ in range(n_lines)]


def place(page: Page) -> None:
    rng, lay = page.rng, page.cfg["layout"]
    n_total = int(rng.integers(lay["lines"][0], lay["lines"][1] + 1))
    n_blocks = int(rng.integers(lay["blocks"][0], max(lay["blocks"][0], min(lay["blocks"][1], n_total)) + 1))
    n_blocks = min(n_blocks, n_total)
    page.bucket  # drawn here, as in version 1
    margin = page.margin
    avail_w = page.W - 2 * margin

    drawn = []
    for n_lines in _split(rng, n_total, n_blocks):
        lang = page.lang()
        mode = "lines" if lang == "mixed" else choice(rng, lay["mode_probs"])
        align = choice(rng, lay["align_probs"])
        px = int(rng.integers(page.lo, page.hi + 1))
        spacing = float(rng.uniform(*lay["line_spacing"]))
        bw = int(avail_w * rng.uniform(lay["min_block_width_frac"], 1.0))
        bx = margin + int(rng.integers(0, avail_w - bw + 1))
        text, style = page.style(lambda: _block_text(page, lang, mode, n_lines), lang, px)
        pieces = [text] if isinstance(text, str) else text
        limit = n_lines if isinstance(text, str) else 1
        lines = [ln for t in pieces for ln in page.wrap(style, t, bw, limit)]
        if not lines:
            page.count("block_without_words")
            continue
        drawn.append(dict(lang=lang, mode=mode, align=align, px=px, spacing=spacing,
                          x=bx, width=bw, lines=lines, style=style, pitch=style.pitch(spacing)))

    # Vertical placement: drop lines from the tallest block until everything fits.
    def height(b):
        s = b["style"]
        return s.ascent + s.descent + b["pitch"] * (len(b["lines"]) - 1) if b["lines"] else 0
    avail_h = page.H - 2 * margin
    while sum(height(b) for b in drawn) > avail_h:
        tallest = max(drawn, key=height)
        tallest["lines"].pop()
        page.count("lines_dropped_no_room")
    drawn = [b for b in drawn if b["lines"]]
    if not drawn:
        raise Skip("no_room_for_text")
    free = avail_h - sum(height(b) for b in drawn)
    gaps = np.floor(rng.dirichlet(np.ones(len(drawn) + 1)) * free).astype(int)

    y = margin
    for b, gap in zip(drawn, gaps):
        y += int(gap)
        s = b["style"]
        block = page.block(lang=b["lang"], mode=b["mode"], align=b["align"], px=b["px"],
                           spacing=round(b["spacing"], 4), font=s.font, x=b["x"], width=b["width"])
        page.paragraph(block, s, b["lines"], b["x"], y, b["width"], b["spacing"], b["align"],
                       bottom=page.H)
        y += height(b)
