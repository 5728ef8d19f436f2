"""Issue 25, network exposure: the gallery and the embedded Ray as an attacker meets them.

A real gallery (the CLI in a subprocess, or make_server in a thread) spoken to over raw
sockets: Host names it does not answer to (DNS rebinding), request bodies that would
desynchronise a keep-alive connection, a client trickling its request, oversized headers,
and output dirs holding symlinks to files outside them. Static exports and the live page
of samples whose text is hostile HTML, loaded in real Chromium. And the embedded Ray of a
real `textsynth synth` run: every port it listens on is on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from textsynth.gallery.server import make_server

BIN = Path(sys.executable).parent
SECRET = "TOPSECRET-7f3a9c"  # what an attacker wants out of the viewer's machine


@pytest.fixture(scope="module")
def data(assets, tmp_path_factory):
    """One 8-sample shard of the default config (the job's own shard writer)."""
    from textsynth.config import load_config
    from textsynth.shards import ShardSpec, filesystem, write_shard
    from textsynth.synthesis.resources import Resources

    out = tmp_path_factory.mktemp("sec") / "data"
    for d in ("shards", "_completions"):
        (out / d).mkdir(parents=True)
    fs, root = filesystem(str(out))
    write_shard(Resources(load_config(None, seed=3)), ShardSpec("synth", 0, 3, 8, 0), fs, root)
    (out / "stats.json").write_text(json.dumps({"samples": 8}))
    return out


@contextmanager
def running(server):
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def serving(dirs, host="127.0.0.1"):
    """A gallery in a thread of this process: ``with serving(dirs) as port``."""
    return running(make_server([str(d) for d in dirs], host=host, port=0, quiet=True)[0])


@pytest.fixture(scope="module")
def cli_gallery(data):
    """`textsynth gallery` as users start it, with two --allow-host names and a 1 s idle timeout."""
    proc = subprocess.Popen([str(BIN / "textsynth"), "gallery", str(data), "--port", "0", "--quiet",
                             "--idle-timeout", "1", "--allow-host", "gallery.example",
                             "--allow-host", "proxy.example"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if "open http" in line:
            break
    yield int(line.split("open ", 1)[1].split()[0].rstrip("/").rsplit(":", 1)[1])
    proc.terminate()
    _, err = proc.communicate(timeout=30)
    assert "Traceback" not in err, err[-3000:]


def _read_response(f, head: bool = False) -> tuple[int, dict, bytes] | None:
    """One HTTP/1.1 response from a socket file (None when the server closed instead); the
    answer to a HEAD request has no body."""
    status = f.readline()
    if not status:
        return None
    headers = {}
    while (line := f.readline()) not in (b"\r\n", b""):
        k, _, v = line.decode().partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(status.split()[1]), headers, b"" if head else f.read(int(headers.get("content-length", 0)))


def _exchange(port: int, raw: bytes, family=socket.AF_INET, addr="127.0.0.1", timeout=20):
    """Send ``raw`` (one or more requests) on one connection; every response until it closes
    or goes quiet, and whether the server closed it."""
    heads = [line.startswith(b"HEAD ") for line in raw.split(b"\r\n") if b" HTTP/1.1" in line]
    with socket.socket(family) as s:
        s.settimeout(timeout)
        s.connect((addr, port))
        s.sendall(raw)
        f = s.makefile("rb")
        out = []
        s.settimeout(3)  # keep-alive: the server holds the connection open after the last answer
        try:
            while (r := _read_response(f, len(out) < len(heads) and heads[len(out)])) is not None:
                out.append(r)
            closed = True
        except TimeoutError:
            closed = False
        return out, closed


def _get(path: str, host: str | None, close: bool = False) -> bytes:
    return (f"GET {path} HTTP/1.1\r\n" + (f"Host: {host}\r\n" if host is not None else "")
            + ("Connection: close\r\n" if close else "") + "\r\n").encode()


# ------------------------------------------------------------------ Host (DNS rebinding)

HOSTS = [  # (Host header, status) for a gallery bound to 127.0.0.1 with --allow-host gallery.example
    ("127.0.0.1:{port}", 200), ("127.0.0.1", 200), ("localhost:{port}", 200), ("LocalHost.", 200),
    ("localhost:9000", 200),  # ssh -L 9000:localhost:PORT: the port is not the gallery's
    ("gallery.example", 200), ("GALLERY.example:443", 200), ("proxy.example", 200),
    ("evil.example", 403), ("evil.example:{port}", 403), ("127.0.0.1.evil.example", 403),
    ("localhost.evil.example:{port}", 403), ("127.0.0.2", 403), ("[::1]:{port}", 403), ("0.0.0.0", 403),
    (None, 400), ("", 400), ("127.0.0.1:x", 400), ("127.0.0.1:", 400), ("127.0.0.1:\u0661", 400), ("::1", 400),
]


@pytest.mark.parametrize(("host", "status"), HOSTS, ids=[str(h) for h, _ in HOSTS])
def test_only_known_host_names_are_answered(cli_gallery, host, status):
    port = cli_gallery
    (resp,), closed = _exchange(port, _get("/api/datasets", host and host.format(port=port)))
    assert resp[0] == status, resp
    if status == 200:
        assert json.loads(resp[2])["total"] == 8
    else:
        assert b'"samples"' not in resp[2] and resp[1].get("connection") == "close" and closed
        if status == 403:
            assert b"--allow-host" in resp[2]


@pytest.mark.parametrize("raw", [
    b"GET /api/datasets HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n",
    b"GET http://evil.example/api/datasets HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
], ids=["two-hosts", "absolute-form"])
def test_a_second_host_name_in_the_request_is_refused(cli_gallery, raw):
    (resp,), _ = _exchange(cli_gallery, raw)
    assert resp[0] == 400 and b'"samples"' not in resp[2]


BINDS = [  # (bind address, socket family, connect to, Host header, status)
    ("0.0.0.0", socket.AF_INET, "127.0.0.1", "127.0.0.1:{port}", 200),
    ("0.0.0.0", socket.AF_INET, "127.0.0.1", "localhost", 200),
    ("0.0.0.0", socket.AF_INET, "127.0.0.1", "evil.example", 403),
    ("0.0.0.0", socket.AF_INET, "127.0.0.1", "0.0.0.0", 403),
    ("::1", socket.AF_INET6, "::1", "[::1]:{port}", 200),
    ("::1", socket.AF_INET6, "::1", "localhost:{port}", 200),
    ("::1", socket.AF_INET6, "::1", "127.0.0.1", 403),
    ("::1", socket.AF_INET6, "::1", "evil.example", 403),
    ("::", socket.AF_INET, "127.0.0.1", "127.0.0.1", 200),  # dual stack: ::ffff:127.0.0.1
    ("::", socket.AF_INET6, "::1", "[::1]", 200),
    ("::", socket.AF_INET, "127.0.0.1", "evil.example", 403),
    ("localhost", socket.AF_INET, "127.0.0.1", "localhost", 200),
]


@pytest.mark.parametrize(("bind", "family", "addr", "host", "status"), BINDS,
                         ids=[f"{b}-{h}" for b, _, _, h, _ in BINDS])
def test_host_names_follow_the_bind_address(data, bind, family, addr, host, status):
    with serving([data], host=bind) as port:
        (resp,), _ = _exchange(port, _get("/api/datasets", host.format(port=port), close=True), family, addr)
    assert resp[0] == status, resp


# ------------------------------------------------------------------ request bodies and heads

OK = _get("/api/datasets", "127.0.0.1")
SMUGGLED = _get("/api/stats?dataset=nope", "127.0.0.1")  # a 404 if it were ever answered


def _with_body(method: str, body: bytes, headers: str = "") -> bytes:
    return (f"{method} /api/datasets HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
            f"{headers}\r\n").encode() + body


BODIES = [  # (raw requests on one connection, statuses answered, closed by the server)
    (_with_body("GET", b"x" * 10) + OK, [200, 200], False),
    (_with_body("GET", SMUGGLED) + OK, [200, 200], False),
    (_with_body("HEAD", SMUGGLED) + OK, [200, 200], False),
    (_with_body("POST", SMUGGLED) + OK, [405, 200], False),
    (_with_body("GET", b"y" * 65536) + OK, [200, 200], False),
    (b"GET /api/datasets HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000000\r\n\r\n" + OK, [413], True),
    (b"GET /api/datasets HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"5\r\nhello\r\n0\r\n\r\n" + OK, [400], True),
    (b"GET /api/datasets HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5x\r\n\r\nhello" + OK, [400], True),
    (b"GET /api/datasets HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nContent-Length: 50\r\n\r\n"
     b"hello" + OK, [400], True),
    (b"GET /api/datasets HTTP/1.1\r\nHost: 127.0.0.1\r\n"  # 40 headers of 2 KB: 80 KB in all
     + b"".join(b"X-Pad%d: %s\r\n" % (i, b"a" * 2000) for i in range(40)) + b"\r\n" + OK, [431], True),
    (OK + OK + OK, [200, 200, 200], False),  # pipelining still works
]


@pytest.mark.parametrize(("raw", "statuses", "closed"), BODIES,
                         ids=["get-body", "get-smuggle", "head-smuggle", "post-smuggle", "get-body-at-cap",
                              "over-cap", "chunked", "bad-length", "two-lengths", "headers-over-cap",
                              "pipelined"])
def test_request_bodies_never_desynchronise_the_connection(cli_gallery, raw, statuses, closed):
    responses, _ = _exchange(cli_gallery, raw)
    assert [r[0] for r in responses] == statuses, [r[:2] for r in responses]
    # the refusals close the connection at once (the rest stays open until the idle timeout)
    assert [r[1].get("connection") == "close" for r in responses] == [False] * (len(statuses) - 1) + [closed]
    if 200 in statuses:
        assert all(json.loads(r[2])["total"] == 8 for r in responses if r[0] == 200 and r[2])


TRICKLES = {  # what the client sends before it trickles one byte every 0.2 s; answers it gets
    "request-line": (b"GET /api/datasets HT", 0),
    "headers": (b"GET /api/datasets HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ", 0),
    "body": (b"GET /api/datasets HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n", 0),
    "second-request": (OK + b"GET /api/datasets HTTP/1.1\r\nX-Slow: ", 1),
}


@pytest.mark.parametrize(("start", "answers"), TRICKLES.values(), ids=TRICKLES)
def test_a_trickling_client_is_cut_off_at_the_idle_timeout(cli_gallery, start, answers):
    """--idle-timeout 1 bounds the whole request, not each read: a client sending one byte
    per 0.2 s is closed after about 1 s (before the fix it was kept for ever)."""
    with socket.create_connection(("127.0.0.1", cli_gallery)) as s:
        s.sendall(start)
        t0 = time.monotonic()
        received = b""
        while time.monotonic() - t0 < 10:
            if select.select([s], [], [], 0.2)[0]:
                chunk = s.recv(65536)
                if not chunk:
                    break
                received += chunk
                continue
            try:
                s.sendall(b"a")
            except OSError:  # reset: closed as well
                break
        waited = time.monotonic() - t0
    assert waited < 3, f"still open after {waited:.1f} s"
    assert received.count(b"HTTP/1.1 200") == answers


# ------------------------------------------------------------------ symlinks out of the served dir


def _outside(tmp: Path, data: Path) -> Path:
    """Files outside the served dir that a planted symlink may point at."""
    out = tmp / "outside"
    out.mkdir()
    (out / "secret.json").write_text(json.dumps({"samples": SECRET}))
    index = pq.read_table(data / "index" / "synth-000000.parquet")
    texts = pa.array([SECRET] * index.num_rows, index.schema.field("text").type)
    pq.write_table(index.set_column(index.schema.get_field_index("text"), "text", texts), out / "index.parquet")
    shutil.copy(data / "shards" / "synth-000000.tar", out / "shard.tar")
    shutil.copytree(data / "shards", out / "shards")
    pq.write_table(pa.table({"key": ["k"], "reason": [SECRET], "detail": [SECRET], "image": ["k.png"]}),
                   out / "rejects.parquet")
    return out


def _link(path: Path, target: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)


LINKS = [  # (what is planted, status of the image request, problem reported)
    ("stats.json -> outside", lambda d, o: _link(d / "stats.json", o / "secret.json"), 200,
     "stats.json: leads outside"),
    ("stats.json -> inside", lambda d, o: (shutil.copy(d / "stats.json", d / "stats-real.json"),
                                           _link(d / "stats.json", Path("stats-real.json"))), 200,
     "stats.json: a symlink"),
    ("index -> outside", lambda d, o: _link(d / "index" / "synth-000000.parquet", o / "index.parquet"), 404,
     "synth-000000.parquet: leads outside"),
    ("tar -> outside", lambda d, o: _link(d / "shards" / "synth-000000.tar", o / "shard.tar"), 403,
     "synth-000000.tar: leads outside"),
    ("shards/ -> outside", lambda d, o: _link(d / "shards", o / "shards"), 403,
     "synth-000000.tar: leads outside"),
    ("rejects -> outside", lambda d, o: _link(d / "rejects" / "synth-000000.parquet", o / "rejects.parquet"),
     200, "rejects/synth-000000.parquet: leads outside"),
    ("stats.json is a fifo", lambda d, o: (os.unlink(d / "stats.json"), os.mkfifo(d / "stats.json")), 200,
     "stats.json: not a regular file"),
    ("index/ -> a folder inside", lambda d, o: (shutil.move(d / "index", d / "index-real"),
                                                _link(d / "index", Path("index-real"))), 200, None),
]


@pytest.mark.parametrize(("plant", "image_status", "problem"), [c[1:] for c in LINKS], ids=[c[0] for c in LINKS])
def test_files_behind_symlinks_out_of_the_dir_are_not_served(data, tmp_path, plant, image_status, problem):
    served = tmp_path / "served"
    shutil.copytree(data, served)
    outside = _outside(tmp_path, data)
    plant(served, outside)
    key = pq.read_table(data / "index" / "synth-000000.parquet", columns=["key"])["key"][0].as_py()
    box = {}
    loader = threading.Thread(target=lambda: box.update(
        server=make_server([str(served)], port=0, quiet=True)[0]), daemon=True)
    loader.start()  # a FIFO must not block the catalog: the load has to finish
    loader.join(60)
    assert "server" in box, "the catalog did not load"
    with running(box["server"]) as port:
        answers = {path: _exchange(port, _get(path, "127.0.0.1", close=True))[0][0] for path in (
            "/api/datasets", "/api/stats?dataset=served", "/api/query?q=TOPSECRET",
            f"/api/image?dataset=served&shard=synth-000000&key={key}",
            f"/api/sample?dataset=served&shard=synth-000000&key={key}")}
    secret_png = (outside / "shard.tar").read_bytes()[1024:1536]  # image bytes of the outside copy
    for path, (status, _, body) in answers.items():
        assert SECRET.encode() not in body, path
        if image_status == 403:
            assert secret_png not in body, path
    assert answers[f"/api/image?dataset=served&shard=synth-000000&key={key}"][0] == image_status
    problems = json.loads(answers["/api/datasets"][2])["datasets"][0]["errors"]
    if problem is None:
        assert problems == [] and json.loads(answers["/api/datasets"][2])["total"] == 8
    else:
        assert any(problem in p for p in problems), problems


# ------------------------------------------------------------------ hostile text in the page

HOSTILE = ["<!--<script>", "</script><script>window.__pwned=1</script>", "line\u2028sep\u2029para",
           "<img src=x onerror=\"window.__pwned=2\">", "-->\"'&amp;<\\/script>&lt;",
           "]]><svg onload=window.__pwned=3>", "<!--<script>\u2028</script><script>window.__pwned=4</script>-->",
           "中文<!--"]


@pytest.fixture(scope="module")
def hostile(data, tmp_path_factory):
    """The shard again with each sample's text (and its first line's) replaced by hostile HTML,
    and a stats.json that carries some too."""
    from textsynth.shards import pack

    out = tmp_path_factory.mktemp("sec") / "hostile"
    (out / "shards").mkdir(parents=True)
    (out / "index").mkdir()
    samples = []
    with tarfile.open(data / "shards" / "synth-000000.tar") as t:
        members = {m.name: t.extractfile(m).read() for m in t.getmembers()}
    keys = sorted(n[:-5] for n in members if n.endswith(".json"))
    for key, text in zip(keys, HOSTILE):
        meta = json.loads(members[f"{key}.json"])
        meta["text"] = text
        if meta["lines"]:
            meta["lines"][0]["text"] = text
        image = next(n for n in members if n.startswith(key + ".") and not n.endswith(".json"))
        samples.append((key, image, members[image], meta))
    tar, index = pack(samples)
    (out / "shards" / "synth-000000.tar").write_bytes(tar)
    (out / "index" / "synth-000000.parquet").write_bytes(index)
    (out / "stats.json").write_text(json.dumps({"note": HOSTILE[1] + HOSTILE[0]}))
    return out, dict(zip(keys, HOSTILE))


@pytest.fixture(scope="module")
def browser():
    from textsynth.browser import chromium

    with chromium() as b:
        yield b


@pytest.mark.parametrize("mode", ["export", "live"])
def test_hostile_sample_text_stays_text(hostile, browser, tmp_path, mode):
    """A static export (and the live gallery) of samples whose text is `<!--<script>`,
    `</script><script>...`, U+2028 ...: the page loads in Chromium with every sample listed,
    no script error, no injected element or script, and each text shown as it is."""
    from textsynth.gallery.export import export

    out, texts = hostile
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    with serving([out]) as port:
        if mode == "export":
            page.goto(export([str(out)], str(tmp_path / "share"), sample=50, log=lambda *_: None).as_uri())
        else:
            page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("[data-testid=card]", timeout=30000)
        keys = page.eval_on_selector_all("[data-testid=card]", "cs => cs.map(c => c.dataset.key)")
        assert sorted(keys) == sorted(texts)
        for key, text in texts.items():
            page.click(f"[data-testid=card][data-key='{key}']")
            page.wait_for_function(
                "document.querySelector('[data-testid=detail-meta]').textContent.startsWith('{')")
            assert page.eval_on_selector("[data-testid=detail-text]", "e => e.textContent") == text
            page.click("[data-testid=close]")
        page.click("button[data-tab=stats]")
        page.wait_for_selector("[data-testid=stats] details")
        assert HOSTILE[1] in page.eval_on_selector("[data-testid=stats] details pre", "e => e.textContent")
        assert page.evaluate("window.__pwned") is None
        assert page.evaluate("document.querySelectorAll('script').length") == (2 if mode == "export" else 1)
        assert page.evaluate("document.querySelectorAll('img[src=x], svg[onload]').length") == 0
    assert not errors, errors
    page.close()


# ------------------------------------------------------------------ the embedded Ray


def _listening(pid: int) -> dict[str, set]:
    """Listening TCP addresses of ``pid`` and its descendants, by process name."""
    import psutil

    found: dict[str, set] = {}
    root = psutil.Process(pid)
    for p in [root, *root.children(recursive=True)]:
        try:
            name = p.name()
            for c in p.net_connections(kind="tcp"):
                if c.status == psutil.CONN_LISTEN:
                    found.setdefault(name, set()).add(c.laddr.ip)
        except psutil.Error:  # ended meanwhile
            continue
    return found


def test_embedded_ray_listens_on_loopback_only(assets, tmp_path):
    """While `textsynth synth` runs on its embedded Ray, every listening socket of the job's
    processes (driver, GCS, raylet, workers, dashboard and runtime-env agents, metrics
    exporters) is on 127.0.0.1; before the fix the GCS, raylet and workers listened on ::
    and the metrics on 0.0.0.0."""
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.Popen([str(BIN / "textsynth"), "synth", "--out", str(out), "--num-samples", "100000",
                             "--samples-per-shard", "50"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    seen: dict[str, set] = {}
    try:
        deadline = time.time() + 240
        while time.time() < deadline and len(list((out / "_completions").glob("*.json"))) < 2:
            for name, ips in _listening(proc.pid).items():
                seen.setdefault(name, set()).update(ips)
            time.sleep(0.5)
        for name, ips in _listening(proc.pid).items():  # workers are busy now
            seen.setdefault(name, set()).update(ips)
    finally:
        proc.send_signal(2)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert {"gcs_server", "raylet"} <= set(seen), seen
    assert any(n.startswith("ray::") for n in seen), seen  # workers and agents
    assert all(ip in ("127.0.0.1", "::ffff:127.0.0.1") for ips in seen.values() for ip in ips), seen
