"""The docs site builds with --strict (`make docs`), and strict really fails on a broken link
or an API object without a docstring."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MKDOCS = Path(sys.executable).parent / "mkdocs"


def _build(root: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(MKDOCS), "build", "--strict", "--site-dir", str(site)], cwd=root,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})


def test_docs_build_strict_with_generated_references(tmp_path):
    r = _build(REPO, tmp_path / "site")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    cli = (tmp_path / "site" / "reference" / "cli" / "index.html").read_text()
    assert "textsynth synth" in cli and "--samples-per-shard" in cli          # from the argparse parsers
    config = (tmp_path / "site" / "reference" / "config" / "index.html").read_text()
    assert "canvas.width" in config and "data.batch_size" in config            # from the defaults
    api = (tmp_path / "site" / "reference" / "api" / "index.html").read_text()
    assert "iter_samples" in api                                               # from docstrings


def test_strict_fails_on_a_broken_link_and_a_missing_docstring(tmp_path):
    copy = tmp_path / "repo"
    shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(".venv", "out", "site", ".git", "test-artifacts",
                                                              "__pycache__", ".pytest_cache"))
    guide = copy / "docs" / "guides" / "training.md"
    guide.write_text(guide.read_text() + "\nSee [the missing page](nowhere.md).\n")
    r = _build(copy, tmp_path / "site")
    assert r.returncode != 0 and "nowhere.md" in r.stdout + r.stderr
    guide.write_text(guide.read_text().replace("See [the missing page](nowhere.md).", ""))
    synth = copy / "textsynth" / "synth.py"
    code = synth.read_text()
    start = code.index('    """The lines ``textsynth synth`` prints')
    synth.write_text(code[:start] + code[code.index('"""', start + 8) + 3:])   # summary() loses its docstring
    r = _build(copy, tmp_path / "site2")
    assert r.returncode != 0 and "no docstring for textsynth.synth.summary" in r.stdout + r.stderr


def test_readme_is_a_front_page_showing_the_generated_pictures():
    import re

    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) < 250
    assert readme.lstrip().startswith("# textsynth") and "make demo" in readme and "make test" in readme
    pictures = re.findall(r"!\[[^]]*\]\((docs/images/[^)]+)\)", readme)
    made = (REPO / "docs" / "make_images.py").read_text()
    assert len(pictures) >= 6 and "docs/images/gallery.jpg" in pictures
    for p in pictures:
        assert (REPO / p).is_file(), p
        assert Path(p).stem in made, f"{p} is not made by docs/make_images.py"
    # every relative link of the README resolves inside the repository
    for link in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme):
        if not link.startswith("http"):
            assert (REPO / link).exists(), link
