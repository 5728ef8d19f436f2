"""Screenshot one web page within a total time budget.

A page's scripts can run forever after ``load`` (``while(true){}`` in a timer), and then
every Playwright call waits forever: no per-call timeout can help, because the page's
main thread never answers. So the capture runs in a child process in its own session, and
the parent kills that whole process group (the Playwright driver and Chromium with it)
when the budget — launch, load, scripts and screenshot together — runs out. The page is
then a reject (``web_page_timeout``), and the job goes on with its other inputs.

The page is hostile too: it must not read local files or reach local services
(textsynth.netpolicy). Every request of every frame passes request interception, which
refuses ``file:`` URLs other than the page itself and schemes other than http(s)/data/blob/
about, and WebSockets are refused; the network itself is reachable only through a SOCKS5
guard that checks each address as it connects (redirect hops, which interception does not
see, included). Refused requests fail in the page, which is captured without them; they are
reported.

Run as ``python -m textsynth.curation.webshot URL WIDTH MAX_HEIGHT BUDGET_S POLICY_JSON``:
stdout is a JSON line (``{"blocked": [...]}``) then the PNG; on failure a one-line reason
goes to stderr with exit code 1.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from dataclasses import asdict

from textsynth.netpolicy import Policy


class WebShotError(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def capture(target: str, width: int, max_height: int, budget_s: float,
            policy: Policy = Policy()) -> tuple[bytes, list[str]]:
    """PNG bytes of the page at ``target`` (a URL), ``width`` px wide and at most
    ``max_height`` tall, and the requests the network policy refused (URL and reason);
    raises WebShotError when it fails or exceeds ``budget_s``."""
    cmd = [sys.executable, "-m", "textsynth.curation.webshot", target, str(width),
           str(max_height), str(budget_s), json.dumps(asdict(policy))]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        png, err = proc.communicate(timeout=budget_s)
    except subprocess.TimeoutExpired:
        raise WebShotError("web_page_timeout", f"not captured within the {budget_s:g} s page budget "
                           "(ingest.html_timeout_s: loading, scripts and screenshot)") from None
    finally:
        _kill_group(proc)  # on timeout: all of it; else Chromium helpers left behind, if any
    header, _, png = png.partition(b"\n")
    if proc.returncode != 0 or not png:
        lines = err.decode(errors="replace").strip().splitlines() or [f"exit code {proc.returncode}"]
        raise WebShotError("unreadable_web_page", lines[-1][:300])
    return png, json.loads(header)["blocked"]


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if proc.returncode is None:
        proc.wait()


def guard_flags(proxy_port: int) -> list[str]:
    """Chromium flags that leave it no network but the guard: every connection, loopback
    included, goes through the SOCKS5 proxy (which resolves names itself), and WebRTC may
    not send UDP around it."""
    return [f"--proxy-server=socks5://127.0.0.1:{proxy_port}", "--proxy-bypass-list=<-loopback>",
            "--force-webrtc-ip-handling-policy=disable_non_proxied_udp"]


def _main(target: str, width: int, max_height: int, budget_s: float,
          policy: Policy) -> tuple[bytes, list[str]]:
    from textsynth.browser import chromium
    from textsynth.netpolicy import SocksGuard, scheme_refusal

    own_file = target if target.startswith("file:") else None
    blocked: list[str] = []

    def route(route, request):
        why = scheme_refusal(request.url, own_file)
        if why:
            blocked.append(f"{request.url[:200]}: {why}")
            route.abort("blockedbyclient")
        else:
            route.continue_()

    def websocket(ws):
        blocked.append(f"{ws.url[:200]}: WebSocket (not http(s))")
        ws.close()  # never connected: without connect_to_server() the socket is Playwright's mock

    with SocksGuard(policy) as guard, chromium(guard_flags(guard.port)) as browser:
        context = browser.new_context(viewport={"width": width, "height": 800}, service_workers="block")
        context.route("**/*", route)  # every frame's requests; not redirect hops (the guard's)
        context.route_web_socket(re.compile(""), websocket)
        page = context.new_page()
        page.set_default_timeout(budget_s * 1000)
        page.goto(target, timeout=budget_s * 1000, wait_until="load")
        height = min(max_height, int(page.evaluate("document.documentElement.scrollHeight")))
        png = page.screenshot(clip={"x": 0, "y": 0, "width": width, "height": max(1, height)},
                              full_page=True)
        return png, blocked + guard.refused


if __name__ == "__main__":
    url, w, h, budget = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    try:
        png, refused = _main(url, w, h, budget, Policy(**json.loads(sys.argv[5])))
    except Exception as e:  # noqa: BLE001 - the parent turns any failure into a named reject
        print(f"{type(e).__name__}: {(str(e).splitlines() or [''])[0]}", file=sys.stderr)
        sys.exit(1)
    sys.stdout.buffer.write(json.dumps({"blocked": refused}).encode() + b"\n" + png)
