"""Curation reaches no local files and no local services (issue 25, high severity 2).

Two real `textsynth curate` jobs (real Ray, real Chromium) against two real HTTP servers:
``public`` on 127.0.0.1 and ``private`` on 127.0.0.2, the local service nothing may reach.
Both serve a "secret": magenta pictures and pages, so a leak shows in the crops.

- job ``strict`` runs the default policy: loopback is private, so neither server may be
  reached, and a local page may read no file but itself;
- job ``intranet`` allows 127.0.0.1/32 (``ingest.allow_networks``) and so plays the public
  web: its pages, images and redirects are fetched, but a redirect hop to 127.0.0.2, to
  169.254.169.254 or to ftp:// is refused, and a URL that trickles a byte a second ends at
  ``url_timeout_s``.

Each case is a row of CASES, checked against the finished jobs. Unit rows for the address
classifier and the config check follow.
"""

from __future__ import annotations

import ipaddress
import json
import select
import subprocess
import tarfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from docpages import BIN, EN_PDF, densest_tiles, doc, page, save

URL_TIMEOUT_S = 2
TRICKLE_S = 30        # how long the trickling server would go on if nobody hung up


def _png(rgb: np.ndarray) -> bytes:
    return cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes()


def _secret_png() -> bytes:
    img = np.full((600, 600, 3), (255, 0, 255), np.uint8)
    cv2.putText(img, "SECRET", (40, 320), cv2.FONT_HERSHEY_SIMPLEX, 4, (0, 0, 0), 12)
    return _png(img)


SECRET_HTML = (b"<html><body style='background:#ff00ff;margin:0'>"
               b"<h1 style='font-size:90px'>SECRET</h1></body></html>")


class Site:
    """A real HTTP server in a thread: ``routes`` maps a path to (status, headers, body);
    every request is recorded in ``hits``; ``/trickle`` sends a byte a second."""

    def __init__(self, host: str, routes: dict):
        self.routes, self.hits, self.trickles = routes, [], []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                site.hits.append(self.path)
                if self.path == "/trickle":
                    return site._trickle(self)
                status, headers, body = site.routes.get(self.path, (404, {}, b"not here"))
                self.send_response(status)
                for k, v in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://{host}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _trickle(self, handler) -> None:
        """A PNG's worth of bytes, one a second; records how long until the client hung up."""
        handler.send_response(200)
        handler.send_header("Content-Type", "image/png")
        handler.send_header("Content-Length", str(TRICKLE_S * 10))
        handler.end_headers()
        handler.wfile.flush()
        start = time.monotonic()
        try:
            for _ in range(TRICKLE_S):
                handler.wfile.write(b"\x89")
                handler.wfile.flush()
                ready, _, _ = select.select([handler.connection], [], [], 1.0)
                if ready and not handler.connection.recv(1):
                    break  # the client closed the connection
        except OSError:
            pass
        self.trickles.append(time.monotonic() - start)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Job:
    out: Path
    proc: subprocess.CompletedProcess
    stats: dict
    rejects: list[dict]
    kept: list[dict]
    images: list[np.ndarray]      # every kept crop and every reject example


def _curate(tmp: Path, name: str, cfg: dict, inputs: list[str]) -> Job:
    conf = tmp / f"{name}.yaml"
    conf.write_text(yaml.safe_dump(cfg))
    out = tmp / name
    proc = subprocess.run([str(BIN / "textsynth"), "curate", "--quiet", "--config", str(conf),
                           "--out", str(out), "--input", *inputs],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    rejects = [r for f in sorted((out / "rejects").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    images = []
    for tar_path in [*(out / "shards").glob("*.tar"), *(out / "rejects").glob("*.tar")]:
        with tarfile.open(tar_path) as tar:
            for m in tar.getmembers():
                if m.name.endswith((".png", ".jpg")):
                    data = np.frombuffer(tar.extractfile(m).read(), np.uint8)
                    images.append(cv2.imdecode(data, cv2.IMREAD_COLOR)[:, :, ::-1])
    return Job(out, proc, json.loads((out / "stats.json").read_text()), rejects,
               pq.read_table(out / "index").to_pylist(), images)


@pytest.fixture(scope="module")
def web(assets, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("security-web")
    tiles = [_png(t) for t in densest_tiles(page(doc(EN_PDF), 4), 3)]
    secret = _secret_png()
    private = Site("127.0.0.2", {"/secret.png": (200, {"Content-Type": "image/png"}, secret),
                                 "/secret.html": (200, {"Content-Type": "text/html"}, SECRET_HTML),
                                 "/doc.png": (200, {"Content-Type": "image/png"}, tiles[1]),
                                 "/page.html": (200, {"Content-Type": "text/html"}, b"<p>hi</p>")})
    moved = lambda url: (302, {"Location": url}, b"")  # noqa: E731
    public_page = (f"<html><body style='margin:0'><img src='/doc.png' style='display:block'>"
                   f"<img src='/to-private.png'><iframe src='/to-private.html' width=600 height=400></iframe>"
                   f"<p>The quick brown fox jumps over the lazy dog.</p></body></html>").encode()
    public = Site("127.0.0.1", {
        "/page.html": (200, {"Content-Type": "text/html"}, public_page),
        "/doc.png": (200, {"Content-Type": "image/png"}, tiles[0]),
        "/doc2.png": (200, {"Content-Type": "image/png"}, tiles[1]),
        "/secret.html": (200, {"Content-Type": "text/html"}, SECRET_HTML),
        "/to-private.png": moved(f"{private.base}/secret.png"),
        "/to-private.html": moved(f"{private.base}/secret.html"),
        "/to-ftp.png": moved("ftp://127.0.0.1/doc.png"),
        "/to-metadata.png": moved("http://169.254.169.254/latest/meta-data/"),
    })

    # strict: a local page that reaches for files and both servers; a URL input, a table
    # cell and a page on loopback; and a good image so that something is kept
    (tmp / "secret.png").write_bytes(secret)
    (tmp / "secret.html").write_bytes(SECRET_HTML)
    private_port = private.base.rsplit(":", 1)[1]
    (tmp / "leaky.html").write_text(
        "<html><body style='font:16px sans-serif'><p>The quick brown fox jumps over the lazy dog.</p>"
        "<img src='secret.png'><iframe src='file:///etc/passwd'></iframe>"
        f"<iframe src='{(tmp / 'secret.html').as_uri()}' width=600 height=400></iframe>"
        f"<img src='{private.base}/secret.png'>"
        f"<iframe src='{public.base}/secret.html' width=600 height=400></iframe>"
        f"<link rel=stylesheet href='http://localhost:{private_port}/style.css'>"
        f"<script>fetch('{private.base}/fetch').catch(() => 0);"
        f"try {{ new WebSocket('ws://127.0.0.2:{private_port}/ws') }} catch (e) {{}}</script>"
        "</body></html>")
    save(tmp / "good.png", densest_tiles(page(doc(EN_PDF), 4), 3)[2])
    pq.write_table(pa.table({"key": ["loopback"], "url": [f"{private.base}/doc.png"]}),
                   tmp / "strict.parquet")
    strict_cfg = {"crop": {"sizes": [256]}, "output": {"reject_examples_per_reason": 10000}}
    # intranet: 127.0.0.1 allowed; a page there redirects into 127.0.0.2, and so do table cells
    pq.write_table(pa.table({
        "key": ["doc", "to-ftp", "to-private", "to-metadata", "trickle"],
        "url": [f"{public.base}/doc2.png", f"{public.base}/to-ftp.png", f"{public.base}/to-private.png",
                f"{public.base}/to-metadata.png", f"{public.base}/trickle"]}), tmp / "intranet.parquet")
    intranet_cfg = {"ingest": {"allow_networks": ["127.0.0.1/32"], "url_timeout_s": URL_TIMEOUT_S},
                    "crop": {"sizes": [256]}, "output": {"reject_examples_per_reason": 10000}}
    try:
        strict = _curate(tmp, "strict", strict_cfg, [str(tmp / "leaky.html"), f"{private.base}/page.html",
                                                     str(tmp / "strict.parquet"), str(tmp / "good.png")])
        strict_hits = {"public": list(public.hits), "private": list(private.hits)}
        intranet = _curate(tmp, "intranet", intranet_cfg, [f"{public.base}/page.html",
                                                           str(tmp / "intranet.parquet")])
        yield {"strict": strict, "intranet": intranet, "strict_hits": strict_hits,
               "private_hits": list(private.hits), "public": public, "private": private, "tmp": tmp}
    finally:
        public.close()
        private.close()


# ------------------------------------------------------------------ checks on the jobs

def no_secret_pixels(job_name: str):
    def check(web):
        for img in web[job_name].images:
            magenta = (img[:, :, 0] > 200) & (img[:, :, 1] < 60) & (img[:, :, 2] > 200)
            assert magenta.sum() < 50, "a secret reached the crops"
    return check


def strict_reached_no_server(web):
    assert web["strict_hits"] == {"public": [], "private": []}


def private_never_reached(web):
    assert web["private_hits"] == []


def strict_reports_blocked(web):
    job = web["strict"]
    assert job.stats["rejects"]["web_requests_blocked"] == 1
    assert "web_requests_blocked" in job.proc.stdout + job.proc.stderr
    (row,) = [r for r in job.rejects if r["reason"] == "web_requests_blocked"]
    assert json.loads(row["origin"])["blocked_requests"] >= 8  # 3 files, 2 images, css, fetch, ws


def page_kept(web):
    assert "/doc.png" in web["public"].hits  # the allowed page's own image was fetched ...
    files = {row["origin"]["file"] for row in web["intranet"].kept}
    assert f"{web['public'].base}/page.html" in files  # ... and its crop kept


def table_url_kept(web):
    assert "doc" in {row["origin"].get("key") for row in web["intranet"].kept}


def trickle_cut_at_deadline(web):
    (held,) = web["public"].trickles
    assert held < URL_TIMEOUT_S + 3, f"the fetch held the connection {held:.1f} s"


@dataclass
class Case:
    id: str
    job: str
    reason: str | None                                # a reject with this reason ...
    says: list[str] = field(default_factory=list)     # ... whose row holds all of these
    check: Callable[[dict], None] | None = None


CASES = [
    Case("local-page-reads-no-other-file", "strict", "web_requests_blocked",
         ["file:///etc/passwd: local file", "secret.png: local file", "secret.html: local file"]),
    Case("local-page-reaches-no-loopback-server", "strict", "web_requests_blocked",
         ["127.0.0.2 is a private address", "localhost (127.0.0.1) is a private address",
          "127.0.0.1 is a private address", "ws://127.0.0.2"], strict_reached_no_server),
    Case("no-secret-in-any-crop", "strict", None, check=no_secret_pixels("strict")),
    Case("job-reports-blocked-requests", "strict", None, check=strict_reports_blocked),
    Case("url-input-on-loopback-refused", "strict", "url_refused",
         ["/page.html", "127.0.0.2 is a private address"], strict_reached_no_server),
    Case("table-url-on-loopback-refused", "strict", "url_refused",
         ['\\"key\\": \\"loopback\\"', "127.0.0.2 is a private address"], strict_reached_no_server),
    Case("page-redirect-hop-to-private-refused", "intranet", "web_requests_blocked",
         ["127.0.0.2 is a private address"], private_never_reached),
    Case("no-secret-in-any-crop-after-redirects", "intranet", None, check=no_secret_pixels("intranet")),
    Case("allowed-page-fetched-and-kept", "intranet", None, check=page_kept),
    Case("table-redirect-to-ftp-refused", "intranet", "url_refused",
         ["to-ftp.png", "redirect to 'ftp://127.0.0.1/doc.png': scheme 'ftp' is not http(s)"]),
    Case("table-redirect-to-private-refused", "intranet", "url_refused",
         ["to-private.png", "127.0.0.2 is a private address"], private_never_reached),
    Case("table-redirect-to-metadata-refused", "intranet", "url_refused",
         ["to-metadata.png", "169.254.169.254 is a private address"]),
    Case("table-trickle-is-a-timeout", "intranet", "url_timeout",
         ["/trickle", f"ingest.url_timeout_s = {URL_TIMEOUT_S} s"], trickle_cut_at_deadline),
    Case("allowed-table-url-kept", "intranet", None, check=table_url_kept),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_curation_network_policy(case: Case, web):
    if case.reason:
        rows = [r for r in web[case.job].rejects if r["reason"] == case.reason]
        assert any(all(s in json.dumps(r) for s in case.says) for r in rows), (case.says, rows)
    if case.check:
        case.check(web)


# ------------------------------------------------------------------ units: addresses, config

@pytest.mark.parametrize("address, private", [
    ("127.0.0.1", True), ("10.1.2.3", True), ("172.16.0.1", True), ("192.168.1.1", True),
    ("100.64.0.1", True), ("169.254.169.254", True), ("0.0.0.0", True), ("224.0.0.1", True),
    ("::", True), ("::1", True), ("::ffff:127.0.0.1", True), ("::ffff:10.0.0.1", True),
    ("fc00::1", True), ("fd12:3456::1", True), ("fe80::1", True), ("2002:7f00:1::1", True),
    ("64:ff9b::a9fe:a9fe", True), ("::7f00:1", True),
    ("8.8.8.8", False), ("1.1.1.1", False), ("2606:4700:4700::1111", False),
])
def test_private_addresses(address, private):
    from textsynth.netpolicy import is_private

    assert is_private(ipaddress.ip_address(address)) is private


@pytest.mark.parametrize("ingest, says", [
    ({"allow_networks": ["10.0.0.1/8"]}, "'ingest.allow_networks[0]' must be a network"),
    ({"allow_networks": [8]}, "'ingest.allow_networks[0]' must be a string"),
    ({"allow_networks": "10.0.0.0/8"}, "'ingest.allow_networks' must be a list"),
    ({"allow_private_addresses": "yes"}, "'ingest.allow_private_addresses' must be true/false"),
])
def test_network_keys_are_checked_up_front(ingest, says, tmp_path):
    conf = tmp_path / "c.yaml"
    conf.write_text(yaml.safe_dump({"ingest": ingest}))
    (tmp_path / "p.html").write_text("<p>hi</p>")
    proc = subprocess.run([str(BIN / "textsynth"), "curate", "--config", str(conf), "--out",
                           str(tmp_path / "out"), "--input", str(tmp_path / "p.html")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and says in proc.stderr, proc.stderr[-2000:]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("url, own_file, refused", [
    ("https://example.org/a.png", None, False), ("data:image/png;base64,AAAA", None, False),
    ("blob:https://example.org/1", None, False), ("about:blank", None, False),
    ("file:///tmp/in/page.html#top", "file:///tmp/in/page.html", False),   # the page itself
    ("file://localhost/tmp/in/page.html", "file:///tmp/in/page.html", False),
    ("file:///tmp/in/fig.png", "file:///tmp/in/page.html", True),          # even beside it
    ("file:///etc/passwd", None, True), ("file://host/share/x", "file://host/share/x", True),
    ("ftp://example.org/x", None, True), ("ws://example.org/", None, True),
    ("chrome://settings", None, True), ("javascript:alert(1)", None, True),
])
def test_schemes(url, own_file, refused):
    from textsynth.netpolicy import scheme_refusal

    assert (scheme_refusal(url, own_file) is not None) is refused
