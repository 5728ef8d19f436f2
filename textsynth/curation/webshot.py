"""Screenshot one web page within a total time budget.

A page's scripts can run forever after ``load`` (``while(true){}`` in a timer), and then
every Playwright call waits forever: no per-call timeout can help, because the page's
main thread never answers. So the capture runs in a child process in its own session, and
the parent kills that whole process group (the Playwright driver and Chromium with it)
when the budget — launch, load, scripts and screenshot together — runs out. The page is
then a reject (``web_page_timeout``), and the job goes on with its other inputs.

Run as ``python -m textsynth.curation.webshot URL WIDTH MAX_HEIGHT BUDGET_S``: the PNG goes
to stdout, a one-line reason to stderr with exit code 1.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys


class WebShotError(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def capture(target: str, width: int, max_height: int, budget_s: float) -> bytes:
    """PNG bytes of the page at ``target`` (a URL), ``width`` px wide and at most
    ``max_height`` tall; raises WebShotError when it fails or exceeds ``budget_s``."""
    cmd = [sys.executable, "-m", "textsynth.curation.webshot", target, str(width),
           str(max_height), str(budget_s)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        png, err = proc.communicate(timeout=budget_s)
    except subprocess.TimeoutExpired:
        raise WebShotError("web_page_timeout", f"not captured within the {budget_s:g} s page budget "
                           "(ingest.html_timeout_s: loading, scripts and screenshot)") from None
    finally:
        _kill_group(proc)  # on timeout: all of it; else Chromium helpers left behind, if any
    if proc.returncode != 0 or not png:
        lines = err.decode(errors="replace").strip().splitlines() or [f"exit code {proc.returncode}"]
        raise WebShotError("unreadable_web_page", lines[-1][:300])
    return png


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if proc.returncode is None:
        proc.wait()


def _main(target: str, width: int, max_height: int, budget_s: float) -> bytes:
    from textsynth.browser import chromium

    with chromium() as browser:
        page = browser.new_page(viewport={"width": width, "height": 800})
        page.set_default_timeout(budget_s * 1000)
        page.goto(target, timeout=budget_s * 1000, wait_until="load")
        height = min(max_height, int(page.evaluate("document.documentElement.scrollHeight")))
        return page.screenshot(clip={"x": 0, "y": 0, "width": width, "height": max(1, height)},
                               full_page=True)


if __name__ == "__main__":
    url, w, h, budget = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    try:
        png = _main(url, w, h, budget)
    except Exception as e:  # noqa: BLE001 - the parent turns any failure into a named reject
        print(f"{type(e).__name__}: {(str(e).splitlines() or [''])[0]}", file=sys.stderr)
        sys.exit(1)
    sys.stdout.buffer.write(png)
