"""Asset fetching and the font registry's coverage check."""

from __future__ import annotations

import io
import json
import lzma
import tarfile

import pytest

from textsynth.assets.fetch import fetch, is_done, load_items
from textsynth.assets.packages import FetchError, download_deb, download_wheel, extract
from textsynth.synthesis.fonts import FontRegistry, scan_file


def test_second_fetch_does_nothing(assets):
    logs = []
    summary = fetch("ci", log=logs.append, keep_downloads=True)   # other tests reuse them
    assert summary["fetched"] == 0 and "nothing to do" in logs[0]
    assert all(is_done(item) for item in load_items("ci"))
    # a manifest entry that changes (more files, another package) is no longer done
    import dataclasses

    item = next(it for it in load_items("ci") if it.section == "documents")
    assert not is_done(dataclasses.replace(item, files=[*item.files, "usr/share/doc/more.pdf"]))
    assert not is_done(dataclasses.replace(item, source=item.source + "-other"))


def test_ci_profile_has_every_kind_of_asset(assets):
    assert list((assets / "fonts").rglob("*.ttc")) and list((assets / "fonts").rglob("*.ttf"))
    for lang in ("en", "zh"):
        files = list((assets / "corpora").glob(f"{lang}-*.txt"))
        assert files and sum(f.stat().st_size for f in files) > 100_000
    assert len(list((assets / "backgrounds").rglob("*.*"))) >= 10
    assert len(list((assets / "documents").rglob("*.pdf"))) >= 2
    for model in ("PP-OCRv5_mobile_det", "PP-OCRv5_mobile_rec"):
        assert (assets / "models" / model / "inference.onnx").stat().st_size > 1_000_000


def test_profiles():
    ci = {(i.section, i.name) for i in load_items("ci")}
    full = {(i.section, i.name) for i in load_items("full")}
    assert ci < full
    with pytest.raises(ValueError, match="unknown profile"):
        load_items("huge")


def test_unreachable_registry_is_a_clear_error(tmp_path, monkeypatch):
    for k, v in {"PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_CONFIG_FILE": "/dev/null",
                 "PIP_RETRIES": "0", "PIP_TIMEOUT": "2", "PIP_FIND_LINKS": ""}.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(FetchError, match=r"pip download scikit-learn==1.9.1 failed(.|\n)*registry reachable"):
        download_wheel("scikit-learn==1.9.1", tmp_path)


def test_unknown_debian_package_is_named(assets):
    from textsynth import paths

    with pytest.raises(FetchError, match="apt-get download no-such-package-textsynth"):
        download_deb("no-such-package-textsynth", paths.downloads_dir())


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo("./" + name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _deb(path, files: dict[str, bytes], zstd: bool = False):
    """A minimal .deb: an ar archive holding data.tar.xz, or (``zstd``, as Ubuntu builds
    them) control.tar.zst and data.tar.zst."""
    if zstd:
        import zstandard

        control = _tar({"control": b"Package: x\nVersion: 1.0\nArchitecture: all\n"
                                   b"Maintainer: t <t@example.org>\nDescription: test\n"})
        members = [("debian-binary", b"2.0\n"),
                   ("control.tar.zst", zstandard.ZstdCompressor().compress(control)),
                   # no content size in the frame header, as a streaming compressor writes
                   ("data.tar.zst", zstandard.ZstdCompressor(write_content_size=False)
                    .compress(_tar(files)))]
    else:
        members = [("debian-binary", b"2.0\n"), ("data.tar.xz", lzma.compress(_tar(files)))]
    out = b"!<arch>\n"
    for name, data in members:
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode() + data
        out += b"\n" if len(data) % 2 else b""
    path.write_bytes(out)
    return path


def test_extract_reads_debs_without_dpkg(tmp_path):
    deb = _deb(tmp_path / "x_1.0_all.deb", {
        "usr/share/wallpapers/A/contents/images/1920x1080.jpg": b"a",
        "usr/share/wallpapers/B/contents/images/1920x1080.jpg": b"b",
        "usr/share/doc/x/copyright": b"c",
    })
    out = extract(deb, ["usr/share/wallpapers/*.jpg"], [], tmp_path / "out")
    assert sorted(p.name for p in out) == ["A_contents_images_1920x1080.jpg",
                                           "B_contents_images_1920x1080.jpg"]
    assert (tmp_path / "out" / "B_contents_images_1920x1080.jpg").read_bytes() == b"b"
    with pytest.raises(FetchError, match="no files match"):
        extract(deb, ["*.ttf"], [], tmp_path / "none")
    (tmp_path / "bad.deb").write_bytes(b"not an archive")
    with pytest.raises(FetchError, match="not a Debian package"):
        extract(tmp_path / "bad.deb", ["*"], [], tmp_path / "o2")


FONT_DEB = {"usr/share/fonts/truetype/x/X.ttf": b"font", "usr/share/doc/x/copyright": b"c"}


def test_extract_reads_zstd_debs(tmp_path):
    deb = _deb(tmp_path / "x_1.0_all.deb", FONT_DEB, zstd=True)
    (out,) = extract(deb, ["*.ttf"], [], tmp_path / "out")
    assert out.name == "X.ttf" and out.read_bytes() == b"font"


def test_zstd_debs_without_zstandard_go_through_dpkg_deb(tmp_path, monkeypatch):
    import shutil
    import sys

    deb = _deb(tmp_path / "x_1.0_all.deb", FONT_DEB, zstd=True)
    monkeypatch.setitem(sys.modules, "zstandard", None)   # as if not installed
    if shutil.which("dpkg-deb"):
        (out,) = extract(deb, ["*.ttf"], [], tmp_path / "out")
        assert out.read_bytes() == b"font"
    monkeypatch.setattr(shutil, "which", lambda _: None)
    with pytest.raises(FetchError, match="compressed with zstd: pip install zstandard"):
        extract(deb, ["*.ttf"], [], tmp_path / "out2")


def test_fetch_leaves_no_downloads_unless_kept(tmp_path, monkeypatch, capsys):
    """`assets fetch --home DIR` of one font package, already in DIR/downloads (as a run with
    --keep-downloads leaves it), so nothing is downloaded."""
    import textsynth.assets.fetch as fetch_module
    from textsynth.cli import main

    home, other = tmp_path / "home", tmp_path / "env-home"
    monkeypatch.setenv("TEXTSYNTH_HOME", str(other))   # --home wins; restored afterwards
    item = fetch_module.Item("fonts", "fonts-x", "debian:fonts-x", fetch_module.FONT_GLOBS)
    monkeypatch.setattr(fetch_module, "load_items", lambda profile: [item])
    deb = home / "downloads" / "debian" / "fonts-x_1.0_all.deb"
    font = home / "fonts" / "fonts-x" / "X.ttf"

    def fetch(*args):
        deb.parent.mkdir(parents=True, exist_ok=True)
        _deb(deb, FONT_DEB, zstd=True)
        font.unlink(missing_ok=True)   # not done: extract it again
        return main(["assets", "fetch", "--home", str(home), *args])

    assert fetch() == 0 and font.read_bytes() == b"font"
    assert not (home / "downloads").exists()
    assert fetch("--keep-downloads") == 0 and font.exists() and deb.exists()
    assert main(["assets", "fetch", "--home", str(home)]) == 0   # nothing to do; still cleans
    assert not (home / "downloads").exists() and not other.exists()
    assert "removed the downloaded packages" in capsys.readouterr().out
    assert main(["assets", "path", "fonts", "--home", str(home)]) == 0
    assert capsys.readouterr().out.strip() == str(home / "fonts")


def _font_with_empty_glyph(path):
    """A TTF whose cmap maps 'A' to a square and 'B' to an empty outline."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    def square():
        pen = TTGlyphPen(None)
        pen.moveTo((100, 0)), pen.lineTo((100, 700)), pen.lineTo((600, 700)), pen.lineTo((600, 0))
        pen.closePath()
        return pen.glyph()

    fb = FontBuilder(1000, isTTF=True)
    fb.setupGlyphOrder([".notdef", "A", "B", "space"])
    fb.setupCharacterMap({0x41: "A", 0x42: "B", 0x20: "space"})
    fb.setupGlyf({".notdef": square(), "A": square(), "B": TTGlyphPen(None).glyph(),
                  "space": TTGlyphPen(None).glyph()})
    fb.setupHorizontalMetrics({g: (700, 0) for g in (".notdef", "A", "B", "space")})
    fb.setupHorizontalHeader(ascent=800, descent=-200)
    fb.setupNameTable({"familyName": "Hollow", "styleName": "Regular"})
    fb.setupOS2()
    fb.setupPost()
    fb.save(str(path))


def test_coverage_excludes_glyphs_that_draw_nothing(tmp_path):
    _font_with_empty_glyph(tmp_path / "hollow.ttf")
    face, = scan_file(tmp_path / "hollow.ttf")
    assert (face.family, face.style, face.name) == ("Hollow", "Regular", "hollow.ttf#0")
    assert 0x41 in face.coverage and 0x20 in face.coverage
    assert 0x42 not in face.coverage  # in the cmap, but an empty outline
    reg = FontRegistry([face])
    assert reg.covering("A A") == [face] and reg.covering("AB") == []


def test_ttc_faces_have_their_own_index(fonts):
    ttc = [f for f in fonts.faces if f.path.suffix == ".ttc"]
    assert sorted(f.index for f in ttc if f.path.name == "wqy-microhei.ttc") == [0, 1]
    assert json.dumps([f.name for f in ttc])  # FILE#INDEX names are plain strings
