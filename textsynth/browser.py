"""Headless Chromium through Playwright, shared by web-page ingest and the gallery tests.

Playwright drives the system Chromium (Debian package `chromium`); `playwright install`
downloads browsers from a CDN and is neither needed nor possible offline. The flags keep a
headless browser from phoning home and from needing a sandbox or a GPU.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager

CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


class BrowserUnavailable(RuntimeError):
    pass


def chromium_path() -> str:
    """The Chromium binary: $TEXTSYNTH_CHROMIUM, else `chromium` on PATH."""
    path = os.environ.get("TEXTSYNTH_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise BrowserUnavailable(
            "no Chromium found: install the Debian package `chromium` (apt-get install chromium) "
            "or set TEXTSYNTH_CHROMIUM to a Chromium binary")
    return path


def fontconfig_env() -> dict[str, str]:
    """Environment that makes the asset cache's fonts visible to Chromium through fontconfig,
    on top of the system's: without a CJK font, Chinese pages render as empty boxes (tofu),
    both in web-page screenshots for curation and in the gallery's text panes."""
    from textsynth import paths

    conf_dir = paths.home() / "fontconfig"
    conf_dir.mkdir(parents=True, exist_ok=True)
    conf = conf_dir / "fonts.conf"
    text = ("<?xml version='1.0'?>\n<!DOCTYPE fontconfig SYSTEM 'fonts.dtd'>\n<fontconfig>\n"
            "  <include ignore_missing='yes'>/etc/fonts/fonts.conf</include>\n"
            f"  <dir>{paths.fonts_dir()}</dir>\n  <cachedir>{conf_dir / 'cache'}</cachedir>\n"
            "</fontconfig>\n")
    if not conf.exists() or conf.read_text() != text:
        conf.write_text(text)
    return {**os.environ, "FONTCONFIG_FILE": str(conf)}


@contextmanager
def chromium(extra_args: tuple[str, ...] = ()):
    """A headless Chromium browser, closed on exit. Playwright's launch() gives it a fresh
    temporary profile (a fresh --user-data-dir); ``extra_args`` add to CHROMIUM_FLAGS."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        raise BrowserUnavailable("web pages need Playwright: pip install 'textsynth-engine[web]'") from e
    exe = chromium_path()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, headless=True, args=[*CHROMIUM_FLAGS, *extra_args],
                                     env=fontconfig_env())
        try:
            yield browser
        finally:
            browser.close()
