"""The bad-input catalogue (issue 13): one table, one row per culprit, run as a user would.

Every case runs the real CLI (a real local Ray for synth and curate) and asserts:
- the exit code: 0 when the bad input is a counted, reasoned skip; 1 when too little was
  made; 2 when the input is refused before any work starts;
- that the output or the message names the culprit (file, face or config key);
- that good inputs beside the bad one were still processed (``check``);
- and, for every case, that nothing half-written is left: no temporary files, every shard
  with its index and completion marker, and no output dir at all after an up-front refusal.

Gallery cases (empty shards, 404s, disconnects, idle connections) are in test_gallery.py;
per-value config checks in test_render.py::test_config_errors_name_the_key.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
import yaml
from bad_files import corrupt_glyphs, png_bomb

BIN = Path(sys.executable).parent
SYNTH = ["--num-samples", "12", "--samples-per-shard", "6"]


@dataclass
class Case:
    id: str
    item: str                                   # where it came from (issue 13's list)
    setup: Callable[[Path, Path], list[str]]    # (tmp dir, asset cache) -> textsynth argv
    rc: int
    says: list[str]                             # substrings of stdout+stderr naming the culprit
                                                # ("{out}" stands for the --out path)
    check: Callable[[Path], None] | None = None  # on OUT: the good inputs were processed
    timeout: int = 600


# ------------------------------------------------------------------ input makers

def _config(tmp: Path, cfg: dict) -> str:
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def _photos(tmp: Path, assets: Path, n: int = 2) -> Path:
    bg = tmp / "bg"
    bg.mkdir(exist_ok=True)
    for p in sorted((assets / "backgrounds").rglob("*.png"))[:n]:
        shutil.copy(p, bg / p.name)
    return bg


def _font(assets: Path, name: str) -> Path:
    return next((assets / "fonts").rglob(name))


# ------------------------------------------------------------------ case setups

def bad_photo_beside_good(tmp, assets):
    bg = _photos(tmp, assets)
    (bg / "zero-bytes.jpg").write_bytes(b"")
    return ["synth", *SYNTH, "--config", _config(tmp, {"background": {"dirs": [str(bg)]}})]


def _only_bad_photos_config(tmp) -> str:
    bg = tmp / "bg"
    bg.mkdir()
    (bg / "zero-bytes.jpg").write_bytes(b"")
    (bg / "text.png").write_bytes(b"not an image")
    return _config(tmp, {"background": {"dirs": [str(bg)]}})


def only_bad_photos(tmp, assets):
    return ["synth", *SYNTH, "--config", _only_bad_photos_config(tmp)]


def render_only_bad_photos(tmp, assets):
    return ["render", "--num", "5", "--config", _only_bad_photos_config(tmp)]


def png_bomb_beside_good(tmp, assets):
    bg = _photos(tmp, assets)
    png_bomb(bg / "bomb.png")
    return ["synth", *SYNTH, "--config", _config(tmp, {"background": {"dirs": [str(bg)]}})]


def corrupt_font_beside_good(tmp, assets):
    fonts = tmp / "fonts"
    fonts.mkdir()
    for name in ("DejaVuSans.ttf", "DejaVuSerif.ttf", "wqy-microhei.ttc"):
        shutil.copy(_font(assets, name), fonts / name)
    corrupt_glyphs(_font(assets, "LiberationSans-Regular.ttf"), fonts / "Broken-Regular.ttf")
    # English only, so most draws can land on the broken Latin face
    cfg = {"fonts": {"dirs": [str(fonts)]}, "text": {"lang_probs": {"en": 1.0}}}
    return ["synth", "--num-samples", "60", "--samples-per-shard", "30", "--config", _config(tmp, cfg)]


def no_han_font(tmp, assets):
    fonts = tmp / "latin"
    fonts.mkdir()
    shutil.copy(_font(assets, "DejaVuSans.ttf"), fonts)
    return ["synth", *SYNTH, "--config", _config(tmp, {"fonts": {"dirs": [str(fonts)]}})]


def missing_fonts_dir(tmp, assets):
    good = _font(assets, "wqy-microhei.ttc").parent
    return ["synth", *SYNTH, "--config",
            _config(tmp, {"fonts": {"dirs": [str(good), str(tmp / "no-such-fonts")]}})]


def one_line_corpus(tmp, assets):
    words = (assets / "corpora" / "en-fortunes.txt").read_text().split()
    text = " ".join(words)
    while len(text) < 5_000_000:
        text += " " + text
    (tmp / "en-one-line.txt").write_text(text[:5_000_000] + "\n")
    cfg = {"text": {"lang_probs": {"en": 1.0}, "corpora": {"en": [str(tmp / "en-one-line.txt")]}}}
    return ["synth", *SYNTH, "--config", _config(tmp, cfg)]


def empty_corpus(tmp, assets):
    (tmp / "zh-empty.txt").write_text("\n \n")
    return ["synth", *SYNTH, "--config", _config(tmp, {"text": {"corpora": {"zh": [str(tmp / "zh-empty.txt")]}}})]


def config_value(cfg: dict):
    def setup(tmp, assets):
        return ["synth", *SYNTH, "--config", _config(tmp, cfg)]
    return setup


def out_is_a_file(tmp, assets):
    (tmp / "out").write_text("x")
    return ["synth", *SYNTH]


def looping_web_page_beside_good(tmp, assets):
    from docpages import EN_PDF, densest_tiles, doc, page, save

    (tmp / "loop.html").write_text(
        "<html><body><p>Hello</p><script>window.addEventListener('load',"
        "()=>setTimeout(()=>{while(true){}},0))</script></body></html>")
    save(tmp / "good.png", densest_tiles(page(doc(EN_PDF), 4), 1)[0])
    cfg = _config(tmp, {"ingest": {"html_timeout_s": 8}, "crop": {"sizes": [256]}})
    return ["curate", "--config", cfg, "--input", str(tmp / "loop.html"), str(tmp / "good.png")]


def nothing_curatable(tmp, assets):
    (tmp / "in").mkdir()
    (tmp / "in" / "truncated.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    return ["curate", "--input", str(tmp / "in")]


# ------------------------------------------------------------------ checks on OUT

def _stats(out: Path) -> dict:
    return json.loads((out / "stats.json").read_text())


def made(n: int, skip: str | None = None):
    def check(out):
        s = _stats(out)
        assert s["samples"] == n, s
        if skip:
            assert s["skips"].get(skip, 0) >= 1, s["skips"]
    return check


def curate_kept_good_and_rejected(reason: str, culprit: str):
    def check(out):
        s = _stats(out)
        assert s["kept"] >= 1 and s["rejects"].get(reason) == 1, s
        import pyarrow.parquet as pq
        rejects = [r for f in sorted((out / "rejects").glob("*.parquet"))
                   for r in pq.read_table(f).to_pylist()]
        assert any(r["reason"] == reason and culprit in json.dumps(r) for r in rejects)
    return check


CASES = [
    Case("bad-photo-beside-good", "1", bad_photo_beside_good, 0,
         ["bad_background:corrupt_image"], made(12, "bad_background:corrupt_image")),
    Case("only-bad-photos", "2", only_bad_photos, 1,
         ["made 0 of 12 samples", "bad_background:corrupt_image"]),
    Case("render-only-bad-photos", "2", render_only_bad_photos, 1,
         ["bad_background:corrupt_image"], timeout=120),
    Case("png-bomb-beside-good", "9", png_bomb_beside_good, 0,
         ["bad_background:too_many_pixels"], made(12, "bad_background:too_many_pixels")),
    Case("corrupt-glyphs-beside-good-fonts", "3", corrupt_font_beside_good, 0,
         ["bad_font:Broken-Regular.ttf#0"], made(60, "bad_font:Broken-Regular.ttf#0")),
    Case("no-han-font-but-zh-weight", "4", no_han_font, 2, ["text.lang_probs.zh is 0.45 but no font"]),
    Case("missing-fonts-dir-beside-good", "4", missing_fonts_dir, 2, ["no-such-fonts is not a folder"]),
    Case("5mb-single-line-corpus", "4", one_line_corpus, 0,
         ["en-one-line.txt: 1 line(s) longer than 1000 characters cut into pieces"], made(12)),
    Case("empty-corpus", "5", empty_corpus, 2, ["zh-empty.txt has no usable lines"]),
    Case("lang-prob-not-a-number", "5", config_value({"text": {"lang_probs": {"en": "high"}}}), 2,
         ["text.lang_probs.en"]),
    Case("corpora-a-string", "5", config_value({"text": {"corpora": {"en": "/x.txt"}}}), 2,
         ["text.corpora.en' must be a list"]),
    Case("bucket-outside-5-20px", "5",
         config_value({"size": {"buckets": {"x": [21, 40]}, "bucket_probs": {"x": 1}}}), 2,
         ["size.buckets.x[0]"]),
    Case("max-image-pixels-negative", "2", config_value({"background": {"max_image_pixels": -1}}), 2,
         ["background.max_image_pixels"]),
    Case("out-is-a-regular-file", "6", out_is_a_file, 2, ["error:", "'{out}"]),
    Case("looping-web-page-beside-good", "7", looping_web_page_beside_good, 0,
         ["web_page_timeout"], curate_kept_good_and_rejected("web_page_timeout", "loop.html"), timeout=180),
    Case("nothing-curatable-kept", "2", nothing_curatable, 1, ["kept 0 crops", "unreadable_image"]),
]


def _half_written(out: Path) -> list[str]:
    """Temporary files, and shards missing their index or completion marker."""
    bad = [str(p) for p in out.rglob("*") if ".tmp" in p.name or p.suffix == ".part"]
    shards = out / "shards"
    if shards.is_dir():
        for tar in shards.glob("*.tar"):
            if not (out / "index" / f"{tar.stem}.parquet").exists():
                bad.append(f"{tar.name} without its index")
            if not (out / "_completions" / f"{tar.stem}.json").exists() and (out / "_completions").is_dir() \
                    and tar.stem.startswith("synth"):
                bad.append(f"{tar.name} without its completion marker")
    return bad


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, assets, tmp_path):
    argv = case.setup(tmp_path, assets)
    out = tmp_path / ("r" if argv[0] == "render" else "out")
    proc = subprocess.run([str(BIN / "textsynth"), *argv, "--out", str(out)],
                          capture_output=True, text=True, timeout=case.timeout, cwd=tmp_path)
    said = proc.stdout + proc.stderr
    assert proc.returncode == case.rc, said[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    for s in case.says:
        s = s.replace("{out}", str(out))
        assert s in said, (s, said[-3000:])
    if case.rc == 2:  # refused before any work: nothing written
        assert out.is_file() if case.id == "out-is-a-regular-file" else not out.exists()
        return
    assert not _half_written(out), _half_written(out)
    if case.check:
        case.check(out)
