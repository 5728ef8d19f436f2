"""``vertical``: Chinese set in columns, top to bottom, the columns right to left.

Each column is one labelled line with ``direction: ttb``. HarfBuzz's vertical shaping gives
punctuation and brackets their vertical forms; Latin words and numbers inside a column lie on
their side (turned clockwise), as in vertical Chinese typesetting. English, when drawn as the
language, becomes Chinese with an English phrase: a column of English alone is not how
English is written.
"""

from __future__ import annotations

from textsynth.synthesis.layouts.common import WORDY, Page, Skip
from textsynth.synthesis.text import wrap


def vertical(page: Page) -> None:
    m = page.margin
    if "zh" not in page.res.corpora:
        raise Skip("vertical_without_chinese_corpus")
    lang = page.lang()
    if lang == "en":
        page.count("vertical_en_as_mixed")
        lang = "mixed"
    px = page.px()
    spacing = page.uniform(1.3, 1.9)
    height = page.H - 2 * m
    text, style = page.style(lambda: page.corpus_text(lang, 4 * height // max(1, px)), lang, px)
    pitch = max(1, round(style.em * spacing))
    n_cols = max(1, (page.W - 2 * m) // pitch)
    columns = [c for c in wrap(text, lambda s: style.raster.vertical_advance(s, style.em), height, n_cols,
                               split_words=False) if WORDY.search(c)]
    block = page.block(role="vertical", lang=lang, font=style.font, px=px, columns=len(columns))
    x = page.W - m - pitch // 2
    for col in columns:
        if x - pitch // 2 < m:
            break
        page.place(block, style, col, x, m, direction="ttb")
        x -= pitch
