"""Optional parts of textsynth and the pip extra that provides each.

Core (render, synth, verify, gallery) needs only the core dependencies. Curation and
evaluation need OCR and PDF rendering (``curate``), web pages a browser driver (``web``),
the VAE trainer PyTorch (``train``). Importing through :func:`require` turns a missing
package into an error that says which extra to install; :func:`check_command` checks, before
a command does any work, every module of the extras it imports.
"""

from __future__ import annotations

import importlib

# The PyPI distribution ("textsynth" there is another project); the import package and
# the command are still `textsynth`.
DIST = "textsynth-engine"

# The module that shows each requirement of an extra in pyproject.toml installed
# (tests/test_extras.py checks this table against pyproject.toml).
EXTRA_OF = {
    "paddleocr": "curate", "pypdfium2": "curate", "onnxruntime": "curate", "datasketch": "curate",
    "playwright": "web",
    "torch": "train", "transformers": "train", "webdataset": "train", "matplotlib": "train",
    "pandas": "train",   # ray[train]: ray.train refuses to import without it (ray[default] lacks it)
}

# The extras whose modules each command imports (its handler, transitively), checked before
# it does any work (tests/test_extras.py derives the imports and compares).
COMMAND_EXTRAS = {
    "curate": ("curate",), "bench build": ("curate",), "eval": ("curate",),
    "train": ("train",), "experiment": ("curate", "train"),
}


class MissingExtra(RuntimeError):
    """A package of an optional part is not installed; the message names the extra."""


def _missing(module: str, purpose: str, detail: str) -> MissingExtra:
    top = module.split(".")[0]
    return MissingExtra(f"{purpose} needs {top}, which is not installed: "
                        f"{install_hint(EXTRA_OF.get(top, 'all'))} ({detail})")


def install_hint(extra: str) -> str:
    """The command that installs ``extra``."""
    return f"pip install '{DIST}[{extra}]'"


def check(*modules: str, purpose: str) -> None:
    """Fail fast, before a job starts workers, when a needed package is absent (without
    importing it: paddleocr alone takes seconds to import)."""
    from importlib.util import find_spec

    for module in modules:
        if find_spec(module) is None:
            raise _missing(module, purpose, f"no module named {module!r}")


def check_command(command: str) -> None:
    """Check every module of the extras ``command`` (e.g. "bench build") imports."""
    modules = [m for extra in COMMAND_EXTRAS.get(command, ()) for m, e in EXTRA_OF.items()
               if e == extra]
    check(*modules, purpose=f"textsynth {command}")


def require(module: str, purpose: str):
    """Import ``module`` or raise MissingExtra naming ``pip install 'textsynth-engine[EXTRA]'``."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise _missing(module, purpose, str(e)) from None
