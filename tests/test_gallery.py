"""The preview gallery over real outputs: a small synth run, the curate run of the test session,
and a deliberately broken copy. Browser tests drive Debian's Chromium through Playwright;
HTTP tests poke the API with traversal attempts and bad input.

The browser screenshots are kept in test-artifacts/ at the repository root.
"""

from __future__ import annotations

import json
import shutil
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from textsynth.gallery.catalog import Catalog
from textsynth.gallery.server import make_server

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="module")
def synth_out(assets, tmp_path_factory):
    """Two shards of the default config with per-character boxes (the job's own shard writer)."""
    from textsynth.config import load_config
    from textsynth.synthesis.resources import Resources
    from textsynth.shards import ShardSpec, filesystem, write_shard

    cfg = load_config(None, seed=5)
    cfg["output"]["char_boxes"] = True
    out = tmp_path_factory.mktemp("gallery") / "synth"
    for d in ("shards", "_completions"):
        (out / d).mkdir(parents=True)
    fs, root = filesystem(str(out))
    res = Resources(cfg)
    for i in range(2):
        write_shard(res, ShardSpec("synth", i, 5, 16, 16 * i), fs, root)
    return out


@pytest.fixture(scope="module")
def broken(synth_out, tmp_path_factory):
    """A copy with an unreadable index (shard 0) and a truncated tar (shard 1)."""
    out = tmp_path_factory.mktemp("gallery") / "broken"
    shutil.copytree(synth_out, out)
    (out / "index" / "synth-000000.parquet").write_bytes(b"PAR1 this is not parquet")
    tar = out / "shards" / "synth-000001.tar"
    tar.write_bytes(tar.read_bytes()[:4096])
    return out


@pytest.fixture(scope="module")
def served(synth_out, curated, broken):
    server, gallery = make_server([str(synth_out), str(curated[0]), str(broken)], port=0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", gallery
    server.shutdown()
    server.server_close()


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _items(base: str, query: str) -> dict:
    status, body = _get(f"{base}/api/query?{query}")
    assert status == 200, body
    return json.loads(body)


# ------------------------------------------------------------------ catalog and API


def test_query_filters_and_faceted_counts(synth_out, curated):
    cat = Catalog([str(synth_out), str(curated[0])])
    rows = pq.read_table(synth_out / "index" / "synth-000000.parquet").num_rows + \
        pq.read_table(synth_out / "index" / "synth-000001.parquet").num_rows
    assert cat.rows_of("synth") == rows
    everything = cat.query({}, per_page=500)
    assert everything["total"] == cat.num_rows == rows + cat.rows_of(curated[0].name)
    zh = cat.query({"lang": ["zh"]}, per_page=500)
    assert zh["total"] == everything["counts"]["lang"]["zh"] > 0
    assert {it["lang"] for it in zh["items"]} == {"zh"}
    # a facet's own counts ignore its own filter, the others follow it
    assert zh["counts"]["lang"] == everything["counts"]["lang"]
    assert sum(zh["counts"]["source"].values()) == zh["total"]
    doc = cat.query({"source": ["doc"], "scores": {"score_ocr_chars": (200, None)}}, per_page=500)
    assert doc["total"] > 0 and all(it["source"] == "doc" for it in doc["items"])
    chars = [r["score_ocr_chars"] for p in sorted((curated[0] / "index").glob("*.parquet"))
             for r in pq.read_table(p).to_pylist()]
    assert doc["total"] == sum(v >= 200 for v in chars)
    font = next(iter(everything["counts"]["font"]))
    by_font = cat.query({"font": [font]}, per_page=500)
    assert by_font["total"] == everything["counts"]["font"][font]
    word = zh["items"][0]["text"].split("\n")[0][:3]
    found = cat.query({"q": [word]}, per_page=500)
    assert any(it["key"] == zh["items"][0]["key"] for it in found["items"])
    # layout template and canvas size are facets too (curate crops have no template)
    assert everything["counts"]["template"] == {"blocks": rows}
    assert cat.query({"template": ["blocks"]}, per_page=500)["total"] == rows
    sizes = everything["counts"]["canvas"]
    assert sum(sizes.values()) == cat.num_rows and all("x" in k for k in sizes)
    page2 = cat.query({}, page=1, per_page=5)
    assert [it["key"] for it in page2["items"]] == [it["key"] for it in everything["items"][5:10]]


def test_images_stream_from_the_tar_by_offset(served, synth_out):
    base, gallery = served
    import tarfile

    with tarfile.open(synth_out / "shards" / "synth-000001.tar") as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(".png"))
        expected = tar.extractfile(member).read()
    key = member.name[:-4]
    status, body = _get(f"{base}/api/image?dataset=synth&shard=synth-000001&key={key}")
    assert status == 200 and body == expected
    status, body = _get(f"{base}/api/sample?dataset=synth&shard=synth-000001&key={key}")
    meta = json.loads(body)["meta"]
    assert status == 200 and meta["source"] == "synth" and meta["lines"][0]["chars"]


def test_traversal_and_bad_input_are_refused(served):
    base, _ = served
    for path in ["/static/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "//etc/passwd",
                 "/static/..%2F..%2Fpyproject.toml", "/api/image/../../etc/passwd"]:
        status, body = _get(base + path)
        assert status == 404, path
        assert b"root:" not in body
    for query in ["dataset=../synth&shard=synth-000000&key=x", "dataset=/etc&shard=passwd&key=x",
                  "dataset=synth&shard=..%2F..%2Fetc&key=passwd",
                  "dataset=synth&shard=synth-000000&key=/etc/passwd"]:
        status, body = _get(f"{base}/api/image?{query}")
        assert status == 400 and b"bad" in body, query
    status, body = _get(f"{base}/api/image?dataset=nope&shard=synth-000000&key=x")
    assert status == 404 and b"no dataset" in body
    status, body = _get(f"{base}/api/query?score_ocr_chars=lots")
    assert status == 400 and b"score_ocr_chars" in body
    status, body = _get(f"{base}/api/query?score_nonsense=1:2")
    assert status == 400 and b"unknown score" in body
    status, body = _get(f"{base}/api/query?per_page=100000")
    assert status == 400
    req = urllib.request.Request(f"{base}/api/query", data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 405


def test_malformed_dataset_reports_its_error_and_the_rest_works(served, synth_out):
    base, _ = served
    info = json.loads(_get(f"{base}/api/datasets")[1])
    by_name = {d["name"]: d for d in info["datasets"]}
    assert by_name["synth"]["errors"] == [] and by_name["synth"]["rows"] > 0
    assert any("synth-000000.parquet: unreadable index" in e for e in by_name["broken"]["errors"])
    # shard 1's index is intact, so its rows are listed; its tar is truncated
    assert by_name["broken"]["rows"] == pq.read_table(synth_out / "index" / "synth-000001.parquet").num_rows
    key = _items(base, "dataset=broken&per_page=1")["items"][0]["key"]
    status, body = _get(f"{base}/api/image?dataset=broken&shard=synth-000001&key={key}")
    assert status == 500 and b"synth-000001.tar" in body
    good = _items(base, "dataset=synth&per_page=1")["items"][0]
    assert _get(f"{base}/api/image?dataset=synth&shard={good['shard']}&key={good['key']}")[0] == 200


def test_refuses_a_dir_that_does_not_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such directory"):
        Catalog([str(tmp_path / "missing")])
    (tmp_path / "empty").mkdir()
    assert "no shards/ folder" in Catalog([str(tmp_path / "empty")]).datasets["empty"].errors[0]


# ------------------------------------------------------------------ real browser


@pytest.fixture(scope="module")
def browser():
    from textsynth.browser import chromium

    with chromium() as b:
        yield b


def test_browse_filter_open_and_overlay_in_chromium(served, browser, curated):
    base, gallery = served
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(base + "/")
    page.wait_for_selector("[data-testid=card]")
    total = gallery.catalog.num_rows
    assert page.inner_text("[data-testid=total]") == f"{total:,} samples"
    assert "unreadable index" in page.inner_text("[data-testid=errors]")

    # Filter by language: every card is Chinese and the total matches the facet count.
    zh_count = int(page.inner_text("[data-testid=count-lang-zh]"))
    page.check("[data-testid=facet-lang-zh]")
    page.wait_for_function(f"document.querySelector('[data-testid=total]').textContent === '{zh_count} samples'")
    langs = page.eval_on_selector_all("[data-testid=card]", "cs => cs.map(c => c.dataset.lang)")
    assert langs and set(langs) == {"zh"}
    assert "lang=zh" in page.url

    # Restrict to the synth dataset and open a sample.
    page.check("[data-testid=facet-dataset-synth]")
    page.wait_for_function("[...document.querySelectorAll('[data-testid=card]')].every(c => c.dataset.key.startsWith('synth-'))")
    card = page.query_selector("[data-testid=card]")
    key = card.get_attribute("data-key")
    card.click()
    page.wait_for_selector("[data-testid=detail]:not([hidden])")
    page.wait_for_function("document.querySelector('[data-testid=detail-meta]').textContent.startsWith('{')")
    meta = json.loads(page.inner_text("[data-testid=detail-meta]"))
    assert meta["lang"] == "zh" and key in page.inner_text("[data-testid=detail-key]")
    assert page.inner_text("[data-testid=detail-text]").strip() == meta["text"].strip()

    # Pixel-exact zoom: 2x by default, 4x on demand, nearest-neighbour rendering.
    img = "[data-testid=detail-image]"
    page.wait_for_function(f"document.querySelector('{img}').naturalWidth > 0")
    assert page.eval_on_selector(img, "i => i.getBoundingClientRect().width") == 2 * meta["width"]
    page.click("[data-zoom='4']")
    assert page.eval_on_selector(img, "i => i.getBoundingClientRect().width") == 4 * meta["width"]
    assert page.eval_on_selector(img, "i => getComputedStyle(i).imageRendering") == "pixelated"

    # Box overlays: none until toggled, then one outline per line / per character (a box's
    # corners here; quads and polygons of geometric text the same way).
    assert page.eval_on_selector_all("[data-testid=overlay] polygon", "r => r.length") == 0
    page.check("[data-testid=toggle-boxes]")
    lines = page.eval_on_selector_all("[data-testid=overlay] polygon.line",
                                      "rs => rs.map(r => r.getAttribute('points').split(' ').map(Number))")
    assert lines == [[b[0], b[1], b[2], b[1], b[2], b[3], b[0], b[3]] for b in (ln["bbox"] for ln in meta["lines"])]
    page.check("[data-testid=toggle-chars]")
    n_chars = page.eval_on_selector_all("[data-testid=overlay] polygon.char", "r => r.length")
    assert n_chars == sum(len(ln["chars"]) for ln in meta["lines"]) > 0
    page.click("[data-zoom='2']")
    page.screenshot(path=str(ARTIFACTS / "gallery-detail.png"))
    page.click("[data-testid=close]")

    # Stats: counts per dataset, and the curate run's rejects by reason with example crops.
    page.click("button[data-tab=stats]")
    name = curated[0].name
    page.wait_for_selector(f"[data-testid=stats-{name}] [data-testid^=reject-]")
    stats_text = page.inner_text(f"[data-testid=stats-{name}]")
    job = json.loads((curated[0] / "stats.json").read_text())
    for reason, n in job["rejects"].items():
        assert f"{reason} {n}" in stats_text
    page.wait_for_function(f"[...document.querySelectorAll('[data-testid=stats-{name}] .examples img')].every(i => i.complete && i.naturalWidth > 0)")
    page.screenshot(path=str(ARTIFACTS / "gallery-stats.png"), full_page=True)
    assert not errors, errors
    page.close()


def _open_detail_meta(page) -> dict:
    """The open detail's metadata, once loaded."""
    page.wait_for_selector("[data-testid=detail]:not([hidden])")
    page.wait_for_function("document.querySelector('[data-testid=detail-meta]').textContent.startsWith('{')")
    return json.loads(page.inner_text("[data-testid=detail-meta]"))


def _detail_closed(page) -> bool:
    return page.eval_on_selector("[data-testid=detail]", "d => d.hidden")


def test_open_detail_is_in_the_url_and_a_shared_link_opens_it(served, browser):
    """#sample=DATASET/KEY names the open detail: a fresh page loading that URL opens the same
    sample (fetched by key, even one outside the results shown); Back closes it and Forward
    reopens it; a link naming a missing sample says so and the rest of the page works."""
    base, _ = served
    errors = []

    def new_page():
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("pageerror", lambda e: errors.append(str(e)))
        return page

    page = new_page()
    page.goto(base + "/#dataset=synth")
    page.wait_for_selector("[data-testid=card]")
    card = page.query_selector("[data-testid=card]")
    key = card.get_attribute("data-key")
    card.click()
    meta = _open_detail_meta(page)
    link = page.url
    assert link.startswith(base + "/#") and f"sample=synth/{key}" in link and "dataset=synth" in link

    shared = new_page()
    shared.goto(link)
    assert _open_detail_meta(shared) == meta and key in shared.inner_text("[data-testid=detail-key]")
    shared.wait_for_function("document.querySelector('[data-testid=detail-image]').naturalWidth > 0")
    shared.click("[data-testid=close]")                 # closing drops the sample from the URL
    assert _detail_closed(shared) and "sample=" not in shared.url and "dataset=synth" in shared.url

    page.go_back()                                      # Back closes the detail ...
    page.wait_for_function("document.querySelector('[data-testid=detail]').hidden")
    assert "sample=" not in page.url and "dataset=synth" in page.url
    page.go_forward()                                   # ... and Forward reopens it
    assert _open_detail_meta(page) == meta and page.url == link
    page.keyboard.press("Escape")
    page.wait_for_function("document.querySelector('[data-testid=detail]').hidden")
    assert "sample=" not in page.url

    # A sample the results shown do not hold (filtered out here) is fetched by its key.
    other = _items(base, f"dataset=synth&lang={'en' if meta['lang'] == 'zh' else 'zh'}&per_page=1")["items"][0]
    elsewhere = new_page()
    elsewhere.goto(f"{base}/#dataset=synth&lang={meta['lang']}&sample=synth/{other['key']}")
    assert _open_detail_meta(elsewhere)["lang"] == other["lang"] != meta["lang"]
    elsewhere.wait_for_selector("[data-testid=card]")
    assert other["key"] not in elsewhere.eval_on_selector_all("[data-testid=card]", "cs => cs.map(c => c.dataset.key)")

    for sample, says in (("synth/synth-999999-999999", "no sample 'synth-999999-999999' in synth"),
                         ("nope/x", "no dataset 'nope'"),
                         ("synth-000000-000000", "a sample link is #sample=DATASET/KEY")):
        missing = new_page()
        missing.goto(f"{base}/#sample={sample}")
        missing.wait_for_function("document.querySelector('[data-testid=detail-meta]').textContent.startsWith('cannot open')")
        assert missing.inner_text("[data-testid=detail-meta]") == f"cannot open {sample}: {says}"
        assert not missing.eval_on_selector("[data-testid=detail-image]", "i => i.hasAttribute('src')")
        missing.wait_for_selector("[data-testid=card]")     # the grid behind it still works
        missing.click("[data-testid=close]")
        assert _detail_closed(missing) and "sample=" not in missing.url
        missing.close()
    for p in (page, shared, elsewhere):
        p.close()
    assert not errors, errors


def test_static_export_works_from_a_file(synth_out, curated, tmp_path, browser):
    from textsynth.gallery.export import export

    path = export([str(synth_out), str(curated[0])], str(tmp_path / "share"), sample=12, log=lambda *_: None)
    html = path.read_text()
    assert "/api/" not in html.split('id="gallery-data">', 1)[1].split("</script>", 1)[0]
    page = browser.new_page()
    page.goto(path.as_uri())
    page.wait_for_selector("[data-testid=card]")
    assert page.eval_on_selector_all("[data-testid=card]", "c => c.length") == 12
    assert page.inner_text("[data-testid=total]") == "12 samples"
    page.eval_on_selector_all("[data-testid=card] img", "is => Promise.all(is.map(i => i.decode()))")
    en = int(page.inner_text("[data-testid=count-lang-en]"))
    page.check("[data-testid=facet-lang-en]")
    page.wait_for_function(f"document.querySelectorAll('[data-testid=card]').length === {en}")
    page.click("[data-testid=card]")
    page.wait_for_function("document.querySelector('[data-testid=detail-meta]').textContent.startsWith('{')")
    page.check("[data-testid=toggle-boxes]")
    assert page.eval_on_selector_all("[data-testid=overlay] polygon.line", "r => r.length") > 0
    shared = browser.new_page()                            # the exported page's links work too
    shared.goto(page.url)
    assert "sample=" in page.url and _open_detail_meta(shared) == _open_detail_meta(page)
    shared.close()
    page.close()


def test_gallery_command_serves_on_loopback_and_warns_otherwise(synth_out):
    import subprocess
    import sys

    exe = str(Path(sys.executable).parent / "textsynth")
    for host, warns in (("127.0.0.1", False), ("0.0.0.0", True)):
        proc = subprocess.Popen([exe, "gallery", str(synth_out), "--host", host, "--port", "0", "--quiet"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            lines = []
            for line in proc.stdout:
                lines.append(line)
                if "open http" in line:
                    break
            url = lines[-1].split("open ", 1)[1].split()[0]
            assert url.startswith("http://127.0.0.1:")
            info = json.loads(_get(url + "api/datasets")[1])
            assert info["datasets"][0]["name"] == "synth" and info["total"] == 32
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=30)
        assert ("WARNING" in err) == warns, err


def _threads(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(ln.split()[1] for ln in status.splitlines() if ln.startswith("Threads:")))


def test_burst_disconnects_idle_clients_and_empty_shards(synth_out, tmp_path):
    """Issue 13.8: a burst of simultaneous connections is answered; a client that hangs up
    mid-answer is not a traceback; idle connections are closed after --idle-timeout; a
    0-sample shard is listed as empty, not unreadable; an unknown dataset is 404 everywhere."""
    import socket
    import struct
    import subprocess
    import sys
    import time

    from textsynth.shards import pack

    data = tmp_path / "data"
    shutil.copytree(synth_out, data)
    tar, index = pack([])
    (data / "shards" / "synth-000002.tar").write_bytes(tar)
    (data / "index" / "synth-000002.parquet").write_bytes(index)
    exe = str(Path(sys.executable).parent / "textsynth")
    proc = subprocess.Popen([exe, "gallery", str(data), "--port", "0", "--idle-timeout", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            if "open http" in line:
                break
        base = line.split("open ", 1)[1].split()[0].rstrip("/")
        port = int(base.rsplit(":", 1)[1])
        (ds,) = json.loads(_get(f"{base}/api/datasets")[1])["datasets"]
        assert ds["errors"] == [] and ds["empty_shards"] == ["synth-000002"] and ds["shards"] == 3
        for path in ("query?dataset=nope", "stats?dataset=nope", "sample?dataset=nope&shard=a&key=b"):
            status, body = _get(f"{base}/api/{path}")
            assert status == 404 and b"no dataset 'nope'" in body, (path, body)

        key = _items(base, "dataset=data&per_page=1")["items"][0]["key"]
        image = f"/api/image?dataset=data&shard=synth-000000&key={key}"
        results, start = [], threading.Barrier(64)

        def burst():
            start.wait()
            results.append(_get(base + image)[0])
        threads = [threading.Thread(target=burst) for _ in range(64)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [200] * 64

        for _ in range(40):  # hang up with a reset right after asking
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(f"GET {image} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()

        before = _threads(proc.pid)
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(50)]
        time.sleep(0.5)
        assert _threads(proc.pid) >= before + 40  # one thread per open connection ...
        time.sleep(3)
        assert _threads(proc.pid) <= before + 2   # ... until the idle timeout closes it
        assert all(s.recv(1) == b"" for s in idle)  # the server closed them
        for s in idle:
            s.close()
        assert _get(base + image)[0] == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "Traceback" not in err, err[-3000:]
