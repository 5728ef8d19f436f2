"""Which characters are Han (Chinese) — one definition for fonts, layout and corpora."""

from __future__ import annotations

import re

# CJK Unified Ideographs, Extension A, Compatibility Ideographs, Extensions B-G.
HAN_CLASS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
HAN_RE = re.compile(f"[{HAN_CLASS}]")


def is_han(ch: str) -> bool:
    return HAN_RE.match(ch) is not None
