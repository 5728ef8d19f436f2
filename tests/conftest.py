"""Shared fixtures: the ci asset profile (real fonts, corpora, photos, OCR models)."""

from __future__ import annotations

import pytest

from textsynth import paths


@pytest.fixture(scope="session")
def assets():
    """The asset cache with the ci profile present (fetched once if missing)."""
    from textsynth.assets.fetch import fetch

    fetch("ci", log=lambda *_: None)
    return paths.home()


@pytest.fixture(scope="session")
def fonts(assets):
    from textsynth.fonts import FontRegistry

    return FontRegistry.from_dirs()
