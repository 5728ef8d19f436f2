"""Which characters belong to which script — one definition for fonts, layout and corpora.

Three kinds of script matter to line breaking:

- written with spaces between words (Latin, Greek, Cyrillic, Armenian, Hebrew, Arabic,
  Indic, Georgian, Hangul, Ethiopic, ...): a line breaks only at a space (``WORD_CLASS``);
- written without spaces but breakable between any two characters (Han, kana): a line may
  break anywhere, kinsoku rules aside;
- written without spaces and broken only with a dictionary (Thai, Lao, Khmer, Myanmar):
  textsynth has none, so it could not break them without cutting words; no language
  configuration allows them.

Which scripts a corpus may hold is decided per language (``foreign_letters``): letters are
what identify a script; digits, punctuation and symbols are shared and always allowed.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

# CJK Unified Ideographs, Extension A, Compatibility Ideographs, Extensions B-G.
HAN_CLASS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
HAN_RE = re.compile(f"[{HAN_CLASS}]")

# Characters a word of a space-separated script is made of: the Latin letters, digits and
# joiners line breaking always knew (as they were, so Latin tokenises as before), then the
# letters, combining marks and in-word punctuation of the other space-separated scripts.
WORD_CLASS = (
    "A-Za-z0-9\u00c0-\u024f'\u2019\\-"
    "\u0250-\u036f"                                 # IPA, modifier letters, combining marks
    "\u0370-\u03ff\u1f00-\u1fff"                    # Greek
    "\u0400-\u052f\u1c80-\u1c8f\u2de0-\u2dff\ua640-\ua69f"   # Cyrillic
    "\u0530-\u058f"                                 # Armenian
    "\u0590-\u05ff\ufb1d-\ufb4f"                    # Hebrew
    "\u0600-\u08ff\ufb50-\ufdff\ufe70-\ufefe"       # Arabic, Syriac, Thaana, N'Ko, ...
    "\u0900-\u0dff"                                 # Indic (Devanagari ... Sinhala)
    "\u10a0-\u10ff\u1c90-\u1cbf"                    # Georgian
    "\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7ff"   # Hangul
    "\u1200-\u139f\u13a0-\u13ff\u1400-\u167f"       # Ethiopic, Cherokee, Canadian syllabics
    "\u1d00-\u1dff\u1e00-\u1eff\u2c60-\u2c7f\ua720-\ua7ff\uab30-\uab6f\ufb00-\ufb06"  # Latin
)

# Letters each language's text may hold. Latin includes the letter-like symbols every
# Latin text uses (ª º µ ℓ ℂ ⁿ, fullwidth forms); Chinese adds Han, CJK punctuation and
# symbols, and Bopomofo. Any other letter is of a script no language is configured for
# (kana and Hangul included: a sample label would call them `zh` or `en`).
_LATIN_LETTERS = ("\u0000-\u02ff\u1d00-\u1dbf\u1e00-\u1eff\u2000-\u2bff\u2c60-\u2c7f"
                  "\ua720-\ua7ff\uab30-\uab6f\ufb00-\ufb06\uff01-\uff5e\uffe0-\uffee")
_CHINESE_LETTERS = (_LATIN_LETTERS + HAN_CLASS + "\u2e80-\u2fdf\u3000-\u303f\u3100-\u312f"
                    "\u3190-\u31ef\u3200-\u33ff\ufe30-\ufe4f\uff00-\uff65")
# A letter (or a non-decimal numeral: \w without digits and the underscore) not allowed.
_FOREIGN = {lang: re.compile(f"[^{allowed}\\W\\d_]")
            for lang, allowed in (("en", _LATIN_LETTERS), ("zh", _CHINESE_LETTERS))}
LANG_SCRIPTS = {"en": "Latin, the script of 'en' text", "zh": "Han or Latin, the scripts of 'zh' text"}


def is_han(ch: str) -> bool:
    return HAN_RE.match(ch) is not None


def foreign_letters(s: str, lang: str) -> list[str]:
    """The letters of ``s`` that are not of a script ``lang`` (en, zh) is written in."""
    return _FOREIGN[lang].findall(s)


def has_foreign_letters(s: str, lang: str) -> bool:
    return _FOREIGN[lang].search(s) is not None


def script_names(letters: list[str]) -> list[str]:
    """Script names of ``letters``, most frequent first ("Cyrillic", "Arabic", ...): the
    first word of each character's Unicode name, which is its script for letters."""
    names = Counter(unicodedata.name(ch, "unknown").split()[0].title() for ch in letters)
    return [name for name, _ in names.most_common()]
