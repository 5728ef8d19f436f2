"""Issue 25, text handling: a corpus line in a script its language is not written in (Cyrillic,
Greek, Hebrew, Arabic, Thai or Hangul in an ``en`` corpus; kana or Hangul in a ``zh`` one) is
never drawn under that language's label: it is skipped at load, counted in stats.json
(``corpus_skips.unsupported_script``) and named in a warning; a corpus file with nothing
else is an error naming it. Lines break at spaces in every space-separated script.

Through the real CLI (``textsynth render`` / ``synth``) with real fonts and photos; the
corpora are the test's own files, as a user points ``text.corpora`` at their own folder.
"""

from __future__ import annotations

import json
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
import yaml

from textsynth.synthesis.text import tokenize, wrap

BIN = Path(sys.executable).parent

# Every English word has 9 letters, so a word cut anywhere is no word of the corpus.
WORDS = ("abundance adventure afternoon algorithm apartment blueprint butterfly candidate "
         "catalogue celebrate chocolate classroom community component dangerous democracy "
         "desperate dimension direction discovery education elaborate ephemeral equipment "
         "evolution framework gardening happiness highlight important interview").split()
ENGLISH = [" ".join(WORDS[(7 * i + k) % len(WORDS)] for k in range(6 + i % 7)) for i in range(30)]

# Long words, so a line cut inside one would show.
FOREIGN = {
    "cyrillic": ["Достопримечательности исторического происхождения принадлежат государственному музею",
                 "Международные высокотехнологичные предприятия разрабатывают программное обеспечение"],
    "greek": ["Αντικατάσταση ηλεκτρονικών υπολογιστών πραγματοποιήθηκε επιτυχώς",
              "Πανεπιστημιακές βιβλιοθήκες διαθέτουν ηλεκτρονικά περιοδικά"],
    "hebrew": ["הממשלתיים והאוניברסיטאות התקשורתיות משתתפים בהתכנסויות",
               "הטכנולוגיות המתקדמות משפיעות על התפתחויות כלכליות"],
    "arabic": ["والمستشفيات الحكومية والجامعات الاستراتيجية تستضيف المؤتمرات",
               "المعلوماتية والاتصالات الإلكترونية تتطور باستمرار"],
    "thai": ["ภาษาไทยเป็นภาษาที่ไม่มีการเว้นวรรคระหว่างคำในประโยค"],      # needs a dictionary
    "hangul": ["대한민국의 수도는 서울특별시이며 인구가 가장 많은 도시입니다"],
}
SCRIPT_NAME = {"cyrillic": "Cyrillic", "greek": "Greek", "hebrew": "Hebrew", "arabic": "Arabic",
               "thai": "Thai", "hangul": "Hangul"}
JAPANESE = ["これはひらがなとカタカナで書かれた日本語の文章です", "ソフトウェアのインストールが完了しました"]
# Latin script beyond Latin-1 (Latin Extended Additional): kept in `en`, never cut inside a word.
VIETNAMESE = ["Tiếng Việt được viết bằng chữ Quốc ngữ dựa trên bảng chữ cái Latinh",
              "Những người nghiên cứu khoa học thường xuyên trao đổi kinh nghiệm"]


def _non_latin(text: str) -> set[str]:
    return {ch for ch in text if ch.isalpha() and not unicodedata.name(ch, "").startswith("LATIN")}


def _cut_words(line: str, words: set[str]) -> list[str]:
    """Tokens of a drawn line that are no whole corpus word. The last may be a word's start:
    ``Page.fit`` trims a line's last characters when kerning makes it wider than its
    per-character measure said (as it always has; the default output depends on it)."""
    *body, last = line.split()
    return [t for t in body if t not in words] + \
        ([] if any(w.startswith(last) for w in words) else [last])


def _config(tmp_path: Path, corpora: dict[str, list[str]], lang: str) -> Path:
    """A config drawing only ``lang`` from the given corpus files, small sizes (every word
    fits a line, so no word is split for being wider than the line), running-text templates."""
    cfg = {"text": {"corpora": corpora, "lang_probs": {lang: 1.0}},
           "size": {"buckets": {"5-8": [5, 8]}, "bucket_probs": {"5-8": 1.0}},
           "layout": {"template_probs": {"blocks": 1, "dense": 1, "columns": 1, "heading": 1}}}
    path = tmp_path / "text.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    return path


def _write(folder: Path, name: str, lines: list[str]) -> str:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(folder / name)


def _ts(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "textsynth"), *args], capture_output=True, text=True, timeout=600)


def _render(cfg: Path, out: Path, num: int = 24) -> tuple[subprocess.CompletedProcess, list[dict], dict]:
    proc = _ts("render", "--config", str(cfg), "--num", str(num), "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(x) for x in (out / "metadata.jsonl").read_text().splitlines()]
    return proc, rows, json.loads((out / "stats.json").read_text())


def _synth(cfg: Path, out: Path) -> tuple[subprocess.CompletedProcess, list[dict], dict]:
    import webdataset as wds

    proc = _ts("synth", "--config", str(cfg), "--out", str(out), "--num-samples", "12",
               "--samples-per-shard", "6")
    assert proc.returncode == 0, proc.stderr[-3000:]
    tars = [str(p) for p in sorted((out / "shards").glob("*.tar"))]
    rows = [s["json"] for s in wds.WebDataset(tars, shardshuffle=False).decode()]
    return proc, rows, json.loads((out / "stats.json").read_text())


RUNS = {"render": _render, "synth": _synth}


@pytest.mark.parametrize("command,script", [("render", s) for s in FOREIGN] + [("synth", "cyrillic")])
def test_other_scripts_in_an_en_corpus_are_skipped_counted_and_never_cut(assets, tmp_path, command, script):
    foreign = FOREIGN[script] * 5
    path = _write(tmp_path / "corpus", "en-mine.txt", ENGLISH + foreign)
    proc, rows, stats = RUNS[command](_config(tmp_path, {"en": [path]}, "en"), tmp_path / "out")
    assert stats["corpus_skips"] == {"unsupported_script": len(foreign)}
    total = len(ENGLISH) + len(foreign)
    assert (f"corpus file {path}: {len(foreign)} of {total} lines ({len(foreign) / total:.1%}) skipped, "
            f"counted as unsupported_script") in proc.stderr
    assert SCRIPT_NAME[script] in proc.stderr
    assert rows
    for row in rows:
        assert row["lang"] == "en" and not _non_latin(row["text"]), row["text"]
        for line in row["lines"]:
            assert not _cut_words(line["text"], set(WORDS)), line["text"]


@pytest.mark.parametrize("lines", [VIETNAMESE, ENGLISH[:3] + VIETNAMESE], ids=["vietnamese", "with-english"])
def test_latin_beyond_latin1_is_kept_and_wrapped_at_spaces(assets, tmp_path, lines):
    path = _write(tmp_path / "corpus", "en-vi.txt", lines)
    proc, rows, stats = _render(_config(tmp_path, {"en": [path]}, "en"), tmp_path / "out", 40)
    assert stats["corpus_skips"] == {} and "unsupported_script" not in proc.stderr
    words = {w for ln in lines for w in ln.split()}
    for row in rows:
        assert row["lang"] == "en"
        for line in row["lines"]:
            assert not _cut_words(line["text"], words), line["text"]


def test_kana_and_hangul_in_a_zh_corpus_are_skipped(assets, tmp_path):
    zh = [ln for ln in (assets / "corpora" / "zh-fortunes.txt").read_text(encoding="utf-8").splitlines()
          if ln.strip()][:200]
    foreign = (JAPANESE + FOREIGN["hangul"]) * 4
    path = _write(tmp_path / "corpus", "zh-mine.txt", zh + foreign)
    proc, rows, stats = _render(_config(tmp_path, {"zh": [path]}, "zh"), tmp_path / "out")
    assert stats["corpus_skips"] == {"unsupported_script": len(foreign)}
    assert "Hiragana" in proc.stderr or "Katakana" in proc.stderr
    for row in rows:
        names = {unicodedata.name(ch, "").split()[0] for ch in row["text"] if ch.isalpha()}
        assert not names & {"HIRAGANA", "KATAKANA", "HANGUL"}, row["text"]


@pytest.mark.parametrize("command", ["render", "synth"])
@pytest.mark.parametrize("lang,lines,script", [("en", FOREIGN["cyrillic"], "Cyrillic"),
                                               ("en", FOREIGN["arabic"] + FOREIGN["thai"], "Arabic"),
                                               ("zh", JAPANESE, "Katakana")])
def test_a_corpus_file_with_only_other_scripts_is_an_error_naming_it(assets, tmp_path, command, lang, lines, script):
    path = _write(tmp_path / "corpus", f"{lang}-only.txt", lines)
    out = tmp_path / "out"
    args = ["--num", "4"] if command == "render" else ["--num-samples", "4"]
    proc = _ts(command, "--config", str(_config(tmp_path, {lang: [path]}, lang)), "--out", str(out), *args)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"error: corpus file {path} has no usable lines: all {len(lines)} have letters" in proc.stderr
    assert script in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


@pytest.mark.parametrize("script", ["cyrillic", "greek", "hebrew", "arabic", "hangul"])
def test_wrap_breaks_space_separated_scripts_at_spaces(script):
    """The line breaker itself: a word of any space-separated script is one token."""
    text = " ".join(FOREIGN[script])
    words = set(text.split())
    longest = max(map(len, words))   # a word longer than the line is split: none here
    for max_width in (longest, longest + 7, longest + 19):
        lines = wrap(text, len, max_width)
        for line in lines:
            assert set(line.split()) <= words, (max_width, line)


def test_latin_and_han_tokenise_as_before():
    assert tokenize("Hello, 世界! it's co-op 3.14 Ünïcode_x") == [
        "Hello", ",", " ", "世", "界", "!", " ", "it's", " ", "co-op", " ", "3", ".", "14", " ",
        "Ünïcode", "_", "x"]


# Lines the builder's older rules keep (under 10% non-ASCII; 60% Han) though they are not
# (only) in the language's scripts.
@pytest.mark.parametrize("lang,kept,foreign", [
    ("en", ENGLISH[:3], ["The committee approved the budget for the new library after a long "
                         "meeting with the delegation from Москва", "Notes on the letter ש in " + WORDS[0] * 9]),
    ("zh", ["设置纸张格式选项。", "在这种规模的项目中很难避免。"], ["東京都千代田区霞が関の官公庁", "大韓民國憲法은 國民의 權利를 保障"]),
])
def test_corpus_builder_leaves_other_scripts_out(tmp_path, lang, kept, foreign):
    """`textsynth assets fetch` builds corpora the renderer accepts whole."""
    from textsynth.assets.corpus import build_corpus

    src = tmp_path / "src.txt"
    src.write_text("\n".join(kept + foreign) + "\n", encoding="utf-8")
    stats = build_corpus([src], "text", lang, tmp_path / "out.txt", workers=1)
    assert (tmp_path / "out.txt").read_text(encoding="utf-8").splitlines() == kept
    assert stats["dropped"] == {"unsupported_script": len(foreign)}
