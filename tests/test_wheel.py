"""The built wheel works outside the checkout: packaged defaults, manifests and gallery files.

Builds the wheel from this checkout, installs it (not editable) into a new venv, and runs
the user's first commands from a directory that is not the checkout. The new venv borrows
the *dependencies* of the test venv through a .pth line (installing Ray, PyArrow, OpenCV
and PaddleOCR again would take minutes and the network) — but not textsynth itself: a .pth
line adds a folder to sys.path without processing the .pth files inside it, so the test
venv's editable install is invisible and ``textsynth`` can only come from the wheel.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp / "dist"), str(REPO)], check=True, capture_output=True)
    (wheel,) = (tmp / "dist").glob("textsynth_engine-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "test-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps",
                    str(wheel)], check=True, capture_output=True)
    work = tmp / "elsewhere"
    work.mkdir()
    return venv, work


def _run(venv: Path, work: Path, *args, timeout=600) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(venv / "bin" / "textsynth"), *args], cwd=work, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, (args, proc.stdout[-2000:], proc.stderr[-3000:])
    return proc


def test_installed_wheel_runs_the_first_commands_outside_the_checkout(wheel_venv, assets):
    venv, work = wheel_venv
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import textsynth, textsynth.paths as p; print(textsynth.__file__); "
                            "print(p.packaged_config('synth_en_zh.yaml').is_file())"],
                           cwd=work, capture_output=True, text=True, check=True).stdout.split()
    assert where[0].startswith(str(venv)) and where[1] == "True"  # the wheel's copy, with its data
    assert (Path(where[0]).parent / "py.typed").is_file()

    assert "nothing to do" in _run(venv, work, "assets", "fetch", "--profile", "ci",
                                   "--keep-downloads").stdout   # other tests reuse them
    _run(venv, work, "render", "--num", "4", "--out", "r")
    assert len(list((work / "r").glob("render-*.png"))) == 4
    _run(venv, work, "render", "--num", "2", "--out", "r2", "--config", "pipelines/configs/synth_en_zh.yaml")
    _run(venv, work, "synth", "--out", "s", "--num-samples", "12", "--samples-per-shard", "6")
    assert "OK" in _run(venv, work, "verify", "s").stdout
    _run(venv, work, "gallery", "s", "--export", "g")
    assert "app" in (work / "g" / "index.html").read_text()

    proc = subprocess.Popen([str(venv / "bin" / "textsynth"), "gallery", "s", "--port", "0", "--quiet"],
                            cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            if "open http" in line:
                break
        url = line.split("open ", 1)[1].split()[0]
        assert b"<html" in urllib.request.urlopen(url).read().lower()
        info = json.load(urllib.request.urlopen(url + "api/datasets"))
        assert info["total"] == 12
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# The modules of the other extras (curate, web): a .pth line that runs at start-up marks them
# absent in every process of the wheel's venv, as a `pip install 'textsynth-engine[train]'`
# would leave them (installing torch and Ray into a fresh venv here would take the network and
# minutes; the test venv's copies are borrowed, these are hidden).
NOT_TRAIN = ("paddleocr", "onnxruntime", "pypdfium2", "datasketch", "playwright")


def test_the_wheel_with_only_the_train_extra_trains_five_steps(wheel_venv, assets):
    venv, work = wheel_venv
    site = Path(subprocess.run([str(venv / "bin" / "python"), "-c",
                                "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               check=True, capture_output=True, text=True).stdout.strip())
    block = site / "zz-only-train.pth"
    block.write_text(f"import sys; [sys.modules.setdefault(m, None) for m in {NOT_TRAIN!r}]\n")
    try:
        gone = subprocess.run([str(venv / "bin" / "python"), "-c", "import paddleocr"], capture_output=True,
                              text=True)
        assert gone.returncode != 0                       # the other extras are really absent
        assert "--config" in _run(venv, work, "train", "--help").stdout
        _run(venv, work, "synth", "--out", "shards", "--num-samples", "16", "--samples-per-shard", "8", "--quiet")
        proc = _run(venv, work, "train", "--config", "pipelines/configs/vae_tiny_cpu.yaml", "--out", "t",
                    "--set", "train.max_steps=5", "--set", "data.sources.doc.paths=[shards]",
                    "--set", "data.sources.synth.paths=[shards]", "--set", "data.num_workers=0")
        assert "Traceback" not in proc.stderr
        assert (work / "t" / "vae.pt").is_file()
        # a command that needs another extra says which, without a traceback
        said = subprocess.run([str(venv / "bin" / "textsynth"), "curate", "--input", "x", "--out", "c"], cwd=work,
                              capture_output=True, text=True, timeout=120)
        assert said.returncode == 2 and "textsynth-engine[curate]" in said.stderr and "Traceback" not in said.stderr
    finally:
        block.unlink()
