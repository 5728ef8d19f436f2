"""Optional parts of textsynth and the pip extra that provides each.

Core (render, synth, verify, gallery) needs only the core dependencies. Curation and
evaluation need OCR and PDF rendering (``curate``), web pages a browser driver (``web``),
the VAE trainer PyTorch (``train``). Importing through :func:`require` turns a missing
package into an error that says which extra to install.
"""

from __future__ import annotations

import importlib

EXTRA_OF = {
    "paddleocr": "curate", "pypdfium2": "curate", "onnxruntime": "curate",
    "playwright": "web",
    "torch": "train", "transformers": "train", "webdataset": "train", "matplotlib": "train",
}


class MissingExtra(RuntimeError):
    """A package of an optional part is not installed; the message names the extra."""


def _missing(module: str, purpose: str, detail: str) -> MissingExtra:
    top = module.split(".")[0]
    return MissingExtra(f"{purpose} needs {top}, which is not installed: "
                        f"pip install 'textsynth[{EXTRA_OF.get(top, 'all')}]' ({detail})")


def check(*modules: str, purpose: str) -> None:
    """Fail fast, before a job starts workers, when a needed package is absent (without
    importing it: paddleocr alone takes seconds to import)."""
    from importlib.util import find_spec

    for module in modules:
        if find_spec(module) is None:
            raise _missing(module, purpose, f"no module named {module!r}")


def require(module: str, purpose: str):
    """Import ``module`` or raise MissingExtra naming ``pip install 'textsynth[EXTRA]'``."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise _missing(module, purpose, str(e)) from None
