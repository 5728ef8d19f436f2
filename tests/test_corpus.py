"""Corpus builders on small constructed inputs: exact output lines and drop counts."""

from __future__ import annotations

import gzip
import os

import pytest

from textsynth.assets.corpus import build_corpus, hanzi_ratio, is_hanzi, split_long


def _lines(path):
    return path.read_text(encoding="utf-8").splitlines()


def test_is_hanzi_and_ratio():
    assert is_hanzi("中") and is_hanzi("\u3400") and is_hanzi("\u9fff")
    assert not any(is_hanzi(c) for c in "a1，。〇ア한")
    assert hanzi_ratio("") == 0.0
    assert hanzi_ratio("   ") == 0.0
    assert hanzi_ratio("中文 ab") == 0.5  # spaces do not count
    assert hanzi_ratio("汉字") == 1.0


def test_split_long_at_sentence_punctuation():
    assert split_long("短句。", 10) == ["短句。"]
    assert split_long("第一句话。第二句话！第三句话？", 10) == [
        "第一句话。第二句话！",
        "第三句话？",
    ]
    # ASCII marks split only before a space, so "e.g." and "3.14" stay whole
    assert split_long("Pi is 3.14 e.g. here. Next one; last!", 22) == [
        "Pi is 3.14 e.g. here.",
        "Next one; last!",
    ]
    # one sentence longer than the limit falls back to clause punctuation
    assert split_long("甲乙丙丁戊，己庚辛壬癸，子丑寅卯辰。", 12) == [
        "甲乙丙丁戊，己庚辛壬癸，",
        "子丑寅卯辰。",
    ]


HTML = """<!DOCTYPE html>
<html><head><title>Page title</title><style>p { color: red }</style>
<script>var x = "<p>not text</p>";</script></head>
<body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/docs">Documentation</a></li></ul></nav>
<div class="breadcrumbs"><a href="/">Top</a> &gt; <a href="/x">Guide</a></div>
<p><a href="/">Index</a> | <a href="/next">Next page</a></p>
<h1>Getting   started</h1>
<p>The <code>render</code> step draws
   each line of text &amp; its box.</p>
<ul><li>Fonts are checked per string.</li><li>OK</li></ul>
<table><tr><td>Cells become lines too.</td><td>12345</td></tr></table>
<pre>for x in range(10):
    print(x)</pre>
<p>Read the <a href="/guide">rendering guide</a> before you start.</p>
<p>The render step draws each line of text &amp; its box.</p>
<p>See https://example.com/a/very/long/path/index.html</p>
<footer><p>Built with care.</p></footer>
<p>Copyright 2024 Example Org.</p>
</body></html>
"""


def test_html_drops_markup_and_boilerplate(tmp_path):
    (tmp_path / "page.html").write_text(HTML, encoding="utf-8")
    out = tmp_path / "out" / "html.txt"
    stats = build_corpus([tmp_path / "page.html"], "html", "en", out)
    assert _lines(out) == [
        "Getting started",
        "The render step draws each line of text & its box.",
        "Fonts are checked per string.",
        "Cells become lines too.",
        "Read the rendering guide before you start.",
    ]
    assert stats["files"] == 1
    assert stats["lines_in"] == 11
    assert stats["lines_out"] == 5
    assert stats["chars_out"] == sum(len(line) for line in _lines(out))
    assert stats["dropped"] == {
        "boilerplate": 1,  # Copyright 2024 ...
        "duplicate": 1,  # the paragraph without <code>
        "link_line": 1,  # Index | Next page
        "non_letters": 1,  # 12345
        "too_short": 1,  # OK
        "url": 1,
    }
    assert os.listdir(out.parent) == ["html.txt"]  # the temp file was renamed away


def test_html_zh_keeps_hanzi_lines(tmp_path):
    page = (
        '<html><head><meta charset="gb2312"></head><body>'
        "<h2>格式</h2><p>设置纸张格式选项。</p><p>Displays a preview.</p>"
        "<p>在 LibreOffice 中打开文档</p></body></html>"
    )
    (tmp_path / "zh.html").write_bytes(page.encode("gb2312"))
    stats = build_corpus([tmp_path / "zh.html"], "html", "zh", tmp_path / "zh.txt")
    assert _lines(tmp_path / "zh.txt") == ["设置纸张格式选项。"]
    # "在 LibreOffice 中打开文档": 6 hanzi of 17 visible chars < 0.6
    assert stats["dropped"] == {"too_short": 1, "low_hanzi": 2}


FORTUNE = (
    "\x1b[32m题目：《静夜思》\x1b[m\n"  # ANSI colour codes as in fortunes-zh
    "床前明月光，疑是地上霜。\n"
    "举头望明月，低头思故乡。\n"
    "%\n"
    "在这种规模的项目中，很难避免遇到与你意见不和，或者难以合作\n"  # soft-wrapped prose
    "的人。请接受这一事实，并保持礼貌。\n"
    "\n"
    "    ―― 行为准则\n"
    "%\n"
    "Talk is cheap. Show me the code.\n"
    "%\n"
    "床前明月光，疑是地上霜。\n"
    "%\n"
)


def test_fortune_gb2312_poems_and_prose(tmp_path):
    src = tmp_path / "poems"
    src.write_bytes(FORTUNE.encode("gb2312"))
    (tmp_path / "poems.dat").write_bytes(b"\x00\x00\x00\x02\x00\x00\x00\x04")  # strfile index
    os.symlink("poems", tmp_path / "poems.u8")
    files = [src, tmp_path / "poems.dat", tmp_path / "poems.u8"]
    stats = build_corpus(files, "fortune", "zh", tmp_path / "f.txt")
    assert _lines(tmp_path / "f.txt") == [
        "题目：《静夜思》",
        "床前明月光，疑是地上霜。",
        "举头望明月，低头思故乡。",
        "在这种规模的项目中，很难避免遇到与你意见不和，或者难以合作的人。"
        "请接受这一事实，并保持礼貌。",
        "—— 行为准则",  # GB2312 A1AA decodes to U+2014
    ]
    assert stats["files"] == 1
    assert stats["lines_in"] == 7
    assert stats["dropped"] == {"duplicate": 1, "low_hanzi": 1}
    assert stats["skipped_files"] == {"fortune_index": 1, "same_file": 1}


def test_fortune_en_joins_wrapped_prose_keeps_verse(tmp_path):
    text = (
        "A cloud does not know why it moves in just such a direction and at such\n"
        "a speed, it feels an impulsion.\n"
        "\t\t-- Messiah's Handbook\n"
        "%\n"
        "A halted retreat\n"
        "Is nerve-wracking and dangerous.\n"
        "%\n"
    )
    (tmp_path / "wisdom").write_text(text, encoding="utf-8")
    stats = build_corpus([tmp_path / "wisdom"], "fortune", "en", tmp_path / "w.txt")
    assert _lines(tmp_path / "w.txt") == [
        "A cloud does not know why it moves in just such a direction and at such a speed, "
        "it feels an impulsion.",
        "Messiah's Handbook",
        "A halted retreat",
        "Is nerve-wracking and dangerous.",
    ]
    assert stats["dropped"] == {}


MAN = r""".\" Translated by someone
.TH LS 1 2022 "GNU coreutils" 用户命令
.SH 名称
ls \- 列出目录内容
.SH 描述
.\" a comment inside a paragraph
列出指定“文件”的信息。如果没有指定 \fB\-\-sort\fP，
则按字母排序项目。
.TP
\fB\-a\fP, \fB\-\-all\fP
不要 忽略 以点号起始的 条目
.TP
.BR \-l ", " \-\-long
使用\fI长列表\fR格式
.nf
.B ls \-la /tmp
.fi
.SH 参见
ls(1), dir(1)
"""


def test_man_groff_gzipped(tmp_path):
    (tmp_path / "ls.1.gz").write_bytes(gzip.compress(MAN.encode("utf-8")))
    stats = build_corpus([tmp_path / "ls.1.gz"], "man", "zh", tmp_path / "m.txt")
    assert _lines(tmp_path / "m.txt") == [
        "ls - 列出目录内容",
        "列出指定“文件”的信息。如果没有指定 --sort，则按字母排序项目。",
        "不要忽略以点号起始的条目",  # word-separating spaces of old translations removed
        "使用长列表格式",
    ]
    assert stats["lines_in"] == 11
    # headings 名称/描述/参见 are short; the option tags, `ls -la /tmp` and
    # `ls(1), dir(1)` are not Chinese
    assert stats["dropped"] == {"too_short": 3, "low_hanzi": 4}


def test_text_cleaning_and_dedup(tmp_path):
    text = (
        "Cafe\u0301 au lait is served hot.\n"  # NFD
        "Zero\u200bwidth\u00ad joins\ufeff vanish here.\n"
        "Caf\u00e9 au lait is served hot.\n"  # the same line in NFC: a duplicate
        "\n"
        "ok\n"
        "tab\tand  \x07bell   spaces collapse.\n"
        + "This sentence is long enough. " * 4
        + "And the last one ends here!\n"
    )
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    out = tmp_path / "o.txt"
    stats = build_corpus([tmp_path / "t.txt"], "text", "en", out, max_chars=80)
    assert _lines(out) == [
        "Caf\u00e9 au lait is served hot.",
        "Zerowidth joins vanish here.",
        "tab and bell spaces collapse.",
        "This sentence is long enough. This sentence is long enough.",
        "And the last one ends here!",
    ]
    assert stats["lines_in"] == 7
    assert stats["lines_out"] == 5
    # the repeated half of the split line is a duplicate too
    assert stats["dropped"] == {"duplicate": 2, "empty": 1, "too_short": 1}


def test_en_filters(tmp_path):
    lines = [
        "Plain prose with a (parenthesis) is kept.",
        "这一行几乎全是中文 text",
        "result = compute_value(items[index]) + offset",
        "http://www.example.org/some/where/deep",
        "-- 1999-2001, 42% / 7",
    ]
    (tmp_path / "e.txt").write_text("\n".join(lines), encoding="utf-8")
    stats = build_corpus([tmp_path / "e.txt"], "text", "en", tmp_path / "o.txt")
    assert _lines(tmp_path / "o.txt") == [lines[0]]
    assert stats["dropped"] == {"non_ascii": 1, "code_like": 1, "url": 1, "non_letters": 1}


def test_parallel_output_matches_serial(tmp_path):
    files = []
    for i in range(70):  # above POOL_MIN_FILES
        f = tmp_path / f"p{i:02d}.html"
        f.write_text(f"<p>Paragraph number {i % 50} is here.</p>", encoding="utf-8")
        files.append(f)
    serial = build_corpus(files, "html", "en", tmp_path / "a.txt", workers=1)
    parallel = build_corpus(files, "html", "en", tmp_path / "b.txt", workers=2)
    assert serial == parallel
    assert serial["dropped"] == {"duplicate": 20}
    assert (tmp_path / "a.txt").read_bytes() == (tmp_path / "b.txt").read_bytes()


def test_empty_corpus_and_bad_arguments_fail_loud(tmp_path):
    (tmp_path / "x.txt").write_text("ok\n", encoding="utf-8")
    out = tmp_path / "o.txt"
    with pytest.raises(ValueError, match="no line survived"):
        build_corpus([tmp_path / "x.txt"], "text", "en", out)
    assert not out.exists() and os.listdir(tmp_path) == ["x.txt"]
    with pytest.raises(ValueError, match="kind"):
        build_corpus([tmp_path / "x.txt"], "pdf", "en", out)
    with pytest.raises(ValueError, match="lang"):
        build_corpus([tmp_path / "x.txt"], "text", "fr", out)
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ValueError, match="bad.txt"):
        build_corpus([tmp_path / "bad.txt"], "text", "en", out)
