"""Reviewing a bench in the gallery (keyboard decisions kept in the browser, downloaded as a
file) and `textsynth bench prune`; the gallery's CJK web font. Driven in real Chromium.

The bench here is a small synth output with a bench_id in its stats.json: the review and the
prune only need shards in the sample contract (a real `bench build` needs minutes of OCR).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from textsynth.evaluation.review import bench_id
from textsynth.gallery.server import make_server

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def bench(assets, tmp_path_factory):
    from textsynth.config import load_config
    from textsynth.shards import ShardSpec, filesystem, write_shard
    from textsynth.synthesis.resources import Resources

    out = tmp_path_factory.mktemp("review") / "bench"
    for d in ("shards", "_completions"):
        (out / d).mkdir(parents=True)
    fs, root = filesystem(str(out))
    write_shard(Resources(load_config(None, seed=7)), ShardSpec("bench", 0, 7, 10, 0), fs, root)
    (out / "stats.json").write_text(json.dumps({"samples": 10, "filtered": {"blank": 3}, "bench_id": bench_id(out)}))
    return out


@pytest.fixture(scope="module")
def served(bench):
    server, _ = make_server([str(bench)], port=0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def playwright():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:  # one per thread: both browsers below share it
        yield pw


def _launch(playwright, env):
    from textsynth.browser import CHROMIUM_FLAGS, chromium_path

    return playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS, env=env)


@pytest.fixture(scope="module")
def browser(playwright):
    """Chromium as textsynth.browser.chromium starts it (asset fonts visible to fontconfig)."""
    from textsynth.browser import fontconfig_env

    b = _launch(playwright, fontconfig_env())
    yield b
    b.close()


@pytest.fixture(scope="module")
def bare_browser(playwright):
    """Chromium with the system's fonts only, no CJK among them here: the asset fonts that
    textsynth.browser adds through fontconfig would hide tofu from the font test."""
    import os

    b = _launch(playwright, {k: v for k, v in os.environ.items() if k != "FONTCONFIG_FILE"})
    yield b
    b.close()


def _platform_fonts(page, selector: str) -> set[str]:
    """The fonts Chromium really drew the element's text with (DevTools protocol)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    return {f["familyName"] for f in cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]}


def _check_han_font(page) -> None:
    page.wait_for_selector("[data-testid=card][data-lang=zh]")
    page.evaluate("document.fonts.ready")
    page.wait_for_function("[...document.fonts].some(f => f.family.includes('textsynth-han') && f.status === 'loaded')")
    assert page.evaluate("document.fonts.check('14px textsynth-han', '中文')")
    # The Chinese caption is drawn with the served asset face, not a fallback (boxes here:
    # this Chromium has no CJK font of its own).
    from textsynth.gallery.webfont import han_face

    assert han_face().family in _platform_fonts(page, "[data-testid=card][data-lang=zh] .cap")


def test_cjk_font_served_live_and_embedded_in_exports(served, bench, bare_browser, tmp_path):
    browser = bare_browser
    import urllib.request

    with urllib.request.urlopen(served + "/fonts/han.ttf") as r:
        assert r.headers["Content-Type"] == "font/ttf" and r.read(4) in (b"\0\1\0\0", b"true")
    page = browser.new_page()
    page.goto(served + "/")
    _check_han_font(page)
    page.close()

    from textsynth.gallery.export import export

    path = export([str(bench)], str(tmp_path / "share"), sample=10, log=lambda *_: None)
    assert "/fonts/han.ttf" not in path.read_text()
    page = browser.new_page()
    page.goto(path.as_uri())
    _check_han_font(page)
    page.close()


def test_no_cjk_font_is_a_clean_404(bench, monkeypatch, capsys):
    import urllib.error
    import urllib.request

    from textsynth.gallery import webfont

    monkeypatch.setattr(webfont, "han_face", lambda: None)
    server, _ = make_server([str(bench)], port=0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        for _ in range(2):
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(url + "/fonts/han.ttf")
            assert e.value.code == 404 and "no CJK font" in json.load(e.value)["error"]
        with urllib.request.urlopen(url + "/api/datasets") as r:  # the rest works
            assert r.status == 200
    finally:
        server.shutdown()
        server.server_close()
    assert capsys.readouterr().err.count("no CJK font") == 1  # one note, not one per request


def test_han_face_prefers_the_regular_simplified_chinese_sans(monkeypatch):
    from textsynth.gallery import webfont
    from textsynth.synthesis.fonts import Coverage, Face, FontRegistry

    cov = Coverage(list(range(0x4E00, 0x9FFF)))
    # Debian's fonts-noto-cjk: JP, KR, SC, TC, HK, then the Mono faces, in Regular and Bold files
    faces = [Face(Path(f"/f/NotoSansCJK-{w}.ttc"), i, f"Noto Sans{' Mono' * (i >= 5)} CJK {r}", w, cov)
             for w in ("Bold", "Regular") for i, r in enumerate(["JP", "KR", "SC", "TC", "HK"] * 2)]
    faces += [Face(Path("/f/wqy-microhei.ttc"), i, f"WenQuanYi Micro Hei{' Mono' * i}", "Regular", cov) for i in (0, 1)]
    faces.append(Face(Path("/f/gbsn00lp.ttf"), 0, "AR PL SungtiL GB", "Regular", cov))
    monkeypatch.setattr(FontRegistry, "from_dirs", classmethod(lambda cls, dirs=None: type("R", (), {"faces": faces})))
    assert webfont.han_face().name == "NotoSansCJK-Regular.ttc#2"
    faces[:] = [f for f in faces if not f.path.name.startswith("Noto")]
    assert webfont.han_face().name == "wqy-microhei.ttc#0"


def test_review_with_the_keyboard_download_and_prune(served, bench, browser, tmp_path):
    page = browser.new_page(accept_downloads=True)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(served + "/")
    page.wait_for_selector("[data-testid=card]")
    page.click("[data-testid=tab-review]")
    progress = "[data-testid=review-progress]"
    page.wait_for_function(f"document.querySelector('{progress}').textContent.startsWith('0 / 10 reviewed')")
    first = page.inner_text("[data-testid=review-key]")
    assert first.startswith("1 / 10 · bench-000000-")
    for key in "brnk":
        page.keyboard.press(key)
    assert page.inner_text(progress) == "4 / 10 reviewed · keep 1 · blurred 1 · redundant 1 · blank 1"
    assert page.inner_text("[data-testid=review-key]").startswith("5 / 10")
    page.keyboard.press("ArrowLeft")
    assert page.inner_text("[data-testid=review-decision]") == "keep"
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("k")  # sample 6 kept; sample 5 stays undecided
    # Kept per dataset and bench_id: a bench rebuilt under the same name starts afresh.
    stored = json.loads(page.evaluate(f"localStorage.getItem('textsynth-review:bench@{bench_id(bench)}')"))
    assert sorted(stored.values()) == ["blank", "blurred", "keep", "keep", "redundant"]

    # A reload resumes from the browser's storage, at the first undecided sample.
    page.reload()
    page.wait_for_selector("[data-testid=card]")
    page.click("[data-testid=tab-review]")
    page.wait_for_function(f"document.querySelector('{progress}').textContent.startsWith('5 / 10 reviewed')")
    assert page.inner_text("[data-testid=review-key]").startswith("5 / 10")

    with page.expect_download() as dl:
        page.click("[data-testid=review-download]")
    decisions = tmp_path / dl.value.suggested_filename
    dl.value.save_as(decisions)
    assert decisions.name == "bench-review.json"
    doc = json.loads(decisions.read_text())
    assert doc["format"] == "textsynth-review/1" and doc["dataset"] == "bench"
    assert doc["bench_id"] == bench_id(bench) and doc["decisions"] == stored
    assert not errors, errors
    page.close()

    out = tmp_path / "pruned"
    r = subprocess.run([str(BIN / "textsynth"), "bench", "prune", "--bench", str(bench), "--decisions",
                        str(decisions), "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "7 of 10 samples kept" in r.stdout and "5 of 10 samples have no decision" in r.stdout
    dropped = {k for k, v in stored.items() if v != "keep"}
    kept = sorted(p.name[:-5] for p in _members(out) if p.name.endswith(".json"))
    assert len(kept) == 7 and not dropped & set(kept)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["samples"] == 7 and stats["bench_id"] == bench_id(out) != doc["bench_id"]
    assert stats["filtered"] == {"blank": 3}  # the original stats stay
    assert stats["review"]["counts"] == {"blurred": 1, "redundant": 1, "blank": 1, "keep": 2}
    assert stats["review"]["undecided_kept"] == 5 and stats["review"]["bench_id_before"] == doc["bench_id"]
    assert json.loads((out / "shards.json").read_text())["review"]["samples_after"] == 7
    assert "## Human review" in (out / "README.md").read_text()


def test_review_in_a_static_export(bench, browser, tmp_path):
    from textsynth.gallery.export import export

    path = export([str(bench)], str(tmp_path / "share"), sample=4, log=lambda *_: None)
    page = browser.new_page(accept_downloads=True)
    page.goto(path.as_uri())
    page.wait_for_selector("[data-testid=card]")
    page.click("[data-testid=tab-review]")
    progress = "[data-testid=review-progress]"
    page.wait_for_function(f"document.querySelector('{progress}').textContent.startsWith('0 / 4 reviewed')")
    page.keyboard.press("b")
    assert page.inner_text(progress).startswith("1 / 4 reviewed · keep 0 · blurred 1")
    with page.expect_download() as dl:
        page.click("[data-testid=review-download]")
    doc = json.loads(Path(dl.value.path()).read_text())
    assert doc["bench_id"] == bench_id(bench) and list(doc["decisions"].values()) == ["blurred"]
    page.close()


def _members(root: Path):
    import tarfile

    for shard in sorted((root / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            yield from (Path(m.name) for m in tar.getmembers())


def _decisions(path: Path, **changes) -> Path:
    doc = {"format": "textsynth-review/1", "dataset": "bench", "bench_id": None,
           "decisions": {"bench-000000-000001": "blurred"}, **changes}
    path.write_text(json.dumps(doc))
    return path


def test_prune_refuses_decisions_it_cannot_trust(bench, tmp_path):
    from textsynth.evaluation.review import prune

    out = tmp_path / "out"
    cases = [
        (_decisions(tmp_path / "other.json", bench_id="0123456789abcdef"), "made on another bench"),
        (_decisions(tmp_path / "unknown.json", decisions={"bench-999999-000000": "blank"}), "not in"),
        (_decisions(tmp_path / "value.json", decisions={"bench-000000-000001": "meh"}), "'meh'"),
        (_decisions(tmp_path / "format.json", format="something/2"), "not a review decisions file"),
    ]
    (tmp_path / "broken.json").write_text("{not json")
    cases.append((tmp_path / "broken.json", "not a JSON file"))
    for path, message in cases:
        with pytest.raises(ValueError, match=message):
            prune(bench, path, out, log=lambda *_: None)
        assert not out.exists()
    # A failure while writing leaves neither the output nor its temporary dir.
    import textsynth.evaluation.review as review

    def broken(*args):
        (args[-1] / "shards").mkdir(parents=True)
        raise OSError("disk full")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(review, "_write", broken)
        with pytest.raises(OSError, match="disk full"):
            prune(bench, _decisions(tmp_path / "ok.json"), out, log=lambda *_: None)
    assert not out.exists() and not list(tmp_path.glob(".out*"))
    with pytest.raises(ValueError, match="is the bench itself"):
        prune(bench, _decisions(tmp_path / "ok.json"), bench)
    out.mkdir()
    (out / "x").write_text("")
    with pytest.raises(ValueError, match="not empty"):
        prune(bench, _decisions(tmp_path / "ok.json"), out)
