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


def require(module: str, purpose: str):
    """Import ``module`` or raise MissingExtra naming ``pip install 'textsynth[EXTRA]'``."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        top = module.split(".")[0]
        extra = EXTRA_OF.get(top, "all")
        raise MissingExtra(f"{purpose} needs {top}, which is not installed: "
                           f"pip install 'textsynth[{extra}]' ({e})") from None
