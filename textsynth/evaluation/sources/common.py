"""What every bench source shares: the candidate, the font-normalised crop, the skip ledger."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import cv2
import numpy as np

from textsynth.curation.cascade import lang_of

F_REF = {"zh": 16, "en": 10}   # px per character after normalisation (report §5.2)
LINE_TO_CHAR = {"zh": 1.0, "en": 0.73}  # character size / tight line height, see char_px
SIDE = 256                     # bench crops are SIDE x SIDE
SCALE_RANGE = (0.25, 8.0)      # beyond it a block's estimated character size is implausible
MAX_SKIP_DETAILS = 2000        # itemised skips kept in stats.json (all are counted)


@dataclass
class Candidate:
    image: np.ndarray   # SIDE x SIDE RGB
    origin: dict        # where it came from: file, page, block, data_source, layout, language, scale
    page_id: str        # dedup group within a page
    category: str       # dedup group across pages (an --input argument, or OmniDocBench data_source)
    lang: str           # "zh" or "en": of the block's text, decides f_ref


@dataclass
class Skips:
    """Counted skips with reasons, per block and per page.

    ``pages`` maps every page seen to None (it yielded candidates) or the reason it yielded
    none; the builder later gives candidate-bearing pages that end with no sample the reason
    their last candidate fell at, so a failed build can say why, page by page."""

    counts: Counter = field(default_factory=Counter)
    details: list = field(default_factory=list)
    pages: dict = field(default_factory=dict)
    block_reasons: dict = field(default_factory=dict)   # page -> Counter of its blocks' skip reasons

    def skip(self, reason: str, where: str, detail: str = "", page: str | None = None) -> None:
        """Count one skipped block (or page); ``page`` names the page a block belongs to."""
        self.counts[reason] += 1
        if page is not None:
            self.block_reasons.setdefault(page, Counter())[reason] += 1
        if len(self.details) < MAX_SKIP_DETAILS:
            self.details.append({"reason": reason, "where": where, **({"detail": detail} if detail else {})})

    def page(self, page_id: str, reason: str | None = None, detail: str = "") -> None:
        """Record a page: ``reason`` when the whole page is skipped."""
        self.pages[page_id] = reason
        if reason:
            self.skip(reason, page_id, detail)


def read_page(path, page_id: str, skips: Skips, max_pixels: int = 100_000_000) -> np.ndarray | None:
    """A page image as RGB, or None with the page skipped as ``unreadable_image``."""
    from textsynth.curation import ingest
    from textsynth.shardio import MAX_MEMBER_BYTES

    (page,) = ingest.image_pages(str(path), {"max_image_pixels": max_pixels, "max_file_bytes": MAX_MEMBER_BYTES})
    if isinstance(page, ingest.Reject):
        skips.page(page_id, page.reason, page.detail)
        return None
    return page.image


def bench_lang(text: str) -> str:
    """The f_ref language of a text: Chinese when it is (mostly or partly) Han."""
    return "zh" if lang_of(text) in ("zh", "mixed") else "en"


def char_px(lang: str, line_px: float) -> float:
    """Character size of a text line ``line_px`` high (tight box, ascender to descender), in
    synthesis's px measure: a Han character's height, a Latin capital's height. A Latin
    line's tight box is about 1.37x its cap height (DejaVu/Liberation metrics), a Han line's
    about its character height. So the bench's 10 px English is 10 px capitals, as in synth's
    9-12 px bucket, and its full lines hold 300-600 characters in 256 px, as the report's
    range expects."""
    return line_px * LINE_TO_CHAR[lang]


def scale_for(lang: str, line_px: float) -> float | None:
    """Resize factor that makes the characters of a ``line_px`` line f_ref px, or None when
    implausible."""
    scale = F_REF[lang] / max(char_px(lang, line_px), 1e-6)
    return round(scale, 4) if SCALE_RANGE[0] <= scale <= SCALE_RANGE[1] else None


def window(x: float, y: float, w: int, h: int, side: int = SIDE) -> tuple[int, int] | None:
    """Top-left of a side x side window at (x, y), pushed back inside a w x h image."""
    if w < side or h < side:
        return None
    return int(min(max(0, x), w - side)), int(min(max(0, y), h - side))


def scaled_crop(page: np.ndarray, x: float, y: float, scale: float) -> tuple[np.ndarray, list[int]] | None:
    """The SIDE x SIDE crop whose top-left is page pixel (x, y) once the page is resized by
    ``scale``; only the window is resized, not the page. Returns (crop, box in page pixels),
    or None when the resized page is smaller than the crop."""
    h, w = page.shape[:2]
    src = SIDE / scale                     # window side in page pixels
    at = window(x, y, w, h, side=int(np.ceil(src)))
    if at is None:
        return None
    x0, y0 = at
    x1, y1 = min(w, int(round(x0 + src))), min(h, int(round(y0 + src)))
    region = page[y0:y1, x0:x1]
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    crop = cv2.resize(region, (SIDE, SIDE), interpolation=interp)
    return np.ascontiguousarray(crop), [x0, y0, x1, y1]
