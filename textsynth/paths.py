"""Where textsynth keeps fetched assets.

Everything third-party (fonts, corpora, photos, documents, OCR models) lives in one cache
directory, ``$TEXTSYNTH_HOME`` or the user's cache dir (``~/.cache/textsynth`` on Linux):

    fonts/<package>/<file>          font files extracted from Debian packages
    corpora/<name>.txt              cleaned text, one line per line
    backgrounds/<name>.<ext>        background photos
    documents/<name>.pdf            sample real documents for curation
    models/PP-OCRv5_mobile_det/     inference.onnx + inference.yml (PaddleX layout)
    models/PP-OCRv5_mobile_rec/
    downloads/                      the .deb and .whl files they came from (removed after
                                    `assets fetch` unless --keep-downloads)
    profile-<name>.json             record of a finished `assets fetch --profile <name>`
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def home() -> Path:
    env = os.environ.get("TEXTSYNTH_HOME")
    return Path(env).expanduser() if env else Path(platformdirs.user_cache_dir("textsynth"))


def fonts_dir() -> Path:
    return home() / "fonts"


def corpora_dir() -> Path:
    return home() / "corpora"


def backgrounds_dir() -> Path:
    return home() / "backgrounds"


def documents_dir() -> Path:
    return home() / "documents"


def models_dir() -> Path:
    return home() / "models"


def downloads_dir() -> Path:
    return home() / "downloads"


# Files that ship inside the package (wheel or checkout): the default configs and the asset
# manifests. In the repository they are links to pipelines/configs/, fonts/ and corpora/, so
# those stay the one place to edit them; building the wheel copies their content.
PACKAGED = Path(__file__).resolve().parent / "data"


def packaged_config(name: str) -> Path:
    """A config that ships with textsynth, e.g. ``packaged_config("synth_en_zh.yaml")``."""
    return PACKAGED / "configs" / name


def config_path(p: str | Path) -> Path:
    """A config named in a command or another config: the path itself when it exists (or is
    absolute), else the packaged config of that file name (``pipelines/configs/X.yaml``
    names work from any directory and from an installed wheel)."""
    path = Path(p)
    if path.is_absolute() or path.exists():
        return path
    shipped = packaged_config(path.name)
    return shipped if shipped.exists() else path


def packaged_manifest(kind: str) -> Path:
    """The asset manifest ``kind`` ("fonts" or "corpora")."""
    return PACKAGED / f"{kind}-manifest.yaml"
