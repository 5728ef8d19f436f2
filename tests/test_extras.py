"""Optional extras: the table in textsynth/extras.py agrees with pyproject.toml and with what
each command imports, and a command whose extra is missing stops at once with the pip line."""

from __future__ import annotations

import argparse
import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from textsynth.cli import build_parser
from textsynth.extras import COMMAND_EXTRAS, DIST, EXTRA_OF

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "textsynth"

# The module that shows a requirement installed, where it is not the requirement's name.
MODULE_OF = {"ray[train]": "pandas"}
# Extras a command's modules import, in functions it calls only on some inputs (each with its
# own message) or never: checked up front, they would refuse commands that do not use them.
ONLY_SOMETIMES = {
    "curate": {"web"},        # web pages: textsynth.browser names the web extra
    "experiment": {"web"},
    "bench build": {"web", "train"},   # train: evaluation.run's models, in evaluate() only
    "bench prune": {"curate", "train"},   # evaluation.run's OCR and models, in evaluate() only
    "eval": {"train"},        # checkpoint models (vae.load_reconstructor), LPIPS (optional)
    "assets fetch": {"curate"},   # textsynth.ocr's OCR classes; fetch uses prepare_ppocrv5 only
    # the schemas are declarations: the checks that import the model or OCR code never run
    "config schema": {"curate", "train", "web"},
    # train and experiment configs need the train extra (config_tool.load checks it, per kind;
    # tests/test_config_tool.py); synth and curate configs none
    "config show": {"curate", "train", "web"},
    "config validate": {"curate", "train", "web"},
}


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _module_of(requirement: str) -> str:
    req = Requirement(requirement)
    key = f"{req.name}[{','.join(sorted(req.extras))}]" if req.extras else req.name
    return MODULE_OF.get(key, req.name.replace("-", "_"))


def test_the_extras_table_matches_pyproject():
    project = _pyproject()["project"]
    assert project["name"] == DIST
    extras = project["optional-dependencies"]
    for name, reqs in extras.items():
        names = {Requirement(r).name for r in reqs}
        assert "textsynth" not in names, (name, reqs)   # self-references name DIST
        own = [Requirement(r) for r in reqs if Requirement(r).name == DIST]
        assert all(set(r.extras) <= set(extras) for r in own), (name, reqs)
        if name in set(EXTRA_OF.values()):   # curate, web, train (not gpu, all, docs, test)
            assert not own
            assert {_module_of(r) for r in reqs} == {m for m, e in EXTRA_OF.items() if e == name}
    assert set(COMMAND_EXTRAS) <= set(_commands())
    assert {e for es in COMMAND_EXTRAS.values() for e in es} <= set(extras)


# ------------------------------------------------------------- what each command imports

def _commands(parser: argparse.ArgumentParser | None = None, prefix: str = "") -> dict:
    """{"bench build": handler, ...} from the CLI's parser."""
    found = {}
    for action in (parser or build_parser())._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if "func" in sub._defaults:
                    found[prefix + name] = sub._defaults["func"]
                found.update(_commands(sub, prefix + name + " "))
    return found


def _imports(tree: ast.AST, package: str) -> set[str]:
    """Modules a source imports anywhere (function bodies too), and those it hands to
    extras.require/check by name."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + [base])
            out |= {base} | {f"{base}.{a.name}" for a in node.names}
        elif (isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("require", "check")):
            out |= {a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)}
    return out


def _source(module: str) -> Path | None:
    path = REPO.joinpath(*module.split("."))
    return next((p for p in (path.with_suffix(".py"), path / "__init__.py") if p.is_file()), None)


def _extras_reached(handler) -> set[str]:
    """The extras whose modules the handler's textsynth modules import, transitively."""
    todo, seen, extras = list(_imports(ast.parse(inspect.getsource(handler)), "textsynth")), set(), set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        top = module.split(".")[0]
        if module.startswith("ray.train"):
            extras.add(EXTRA_OF[MODULE_OF["ray[train]"]])
        elif top in EXTRA_OF:
            extras.add(EXTRA_OF[top])
        elif top == "textsynth" and (src := _source(module)):
            package = module if src.name == "__init__.py" else module.rpartition(".")[0]
            parents = [".".join(module.split(".")[:i]) for i in range(2, module.count(".") + 1)]
            todo += parents + sorted(_imports(ast.parse(src.read_text()), package))
    return extras


@pytest.mark.parametrize("command", sorted(_commands()))
def test_each_command_checks_the_extras_it_imports(command):
    reached = _extras_reached(_commands()[command]) - ONLY_SOMETIMES.get(command, set())
    assert reached == set(COMMAND_EXTRAS.get(command, ())), command


# ------------------------------------------------------------- a missing module, for real

# The fewest arguments that get each command past argparse.
ARGS = {"curate": ["--input", "in"], "bench build": ["--input", "in"],
        "eval": ["--bench", "b", "--model", "identity"], "train": [], "experiment": []}
BLOCK = "import sys; sys.modules[{m!r}] = None; from textsynth.cli import main; sys.exit(main())"


@pytest.mark.parametrize("command,module", [(c, m) for c, extras in sorted(COMMAND_EXTRAS.items())
                                            for m, e in EXTRA_OF.items() if e in extras])
def test_a_missing_module_stops_the_command_before_any_work(command, module, tmp_path):
    """As on a core install plus torch: no traceback, the extra to install, exit code 2."""
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-c", BLOCK.format(m=module), *command.split(),
                           *ARGS[command], "--out", str(out)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"needs {module}, which is not installed: pip install '{DIST}[{EXTRA_OF[module]}]'" \
        in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert not out.exists()


def test_no_install_line_names_the_old_distribution():
    texts = [p.read_text() for p in (*PACKAGE.rglob("*.py"), REPO / "README.md", REPO / "Makefile")]
    assert not [t for t in texts if "'textsynth[" in t or '"textsynth[' in t]
