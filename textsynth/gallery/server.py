"""The gallery's HTTP server: read-only JSON API + the single-page app, standard library only.

Routes (GET/HEAD only; everything else is 405):
  /                       the app (static/index.html); /static/{app.js,style.css}
  /api/datasets           datasets, their errors, score ranges
  /api/query              filtered page + facet counts (see :func:`parse_query`)
  /api/sample             one sample's index row and full metadata (from the tar's .json)
  /api/image              one sample's image bytes, straight from its tar
  /api/stats              per-dataset counts and rejects by reason with examples
  /api/reject-image       an example crop of a reject (curate output)
  /fonts/han.ttf          the CJK web font (gallery/webfont.py); 404 when none is installed

Nothing is addressed by a path from the request: datasets are looked up by name in the
catalog, shards and keys must match a strict name pattern *and* exist in the index, and
static files come from a fixed list. So `..`, absolute paths and encoded variants of them
cannot reach a file outside the served directories.
"""

from __future__ import annotations

import ipaddress
import json
import sys
import threading
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from textsynth.gallery import webfont
from textsynth.gallery.catalog import FACETS, NAME_RE, Catalog, QueryError
from textsynth.gallery.tarstore import MemberError, TarStore

STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
          "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/static/style.css": ("style.css", "text/css; charset=utf-8")}
IDLE_TIMEOUT_S = 30   # a connection with no complete request for this long is closed
LISTEN_BACKLOG = 1024  # http.server's default of 5 overflows under a burst of new connections
IMAGE_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}


class HttpError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def static_file(name: str) -> bytes:
    return resources.files("textsynth.gallery").joinpath("static", name).read_bytes()


def _one(params: dict, name: str, required: bool = True) -> str | None:
    values = params.get(name)
    if not values:
        if required:
            raise HttpError(400, f"missing parameter {name!r}")
        return None
    return values[0]


def _name(params: dict, name: str) -> str:
    value = _one(params, name)
    if not NAME_RE.match(value):
        raise HttpError(400, f"bad {name} {value!r}: names are letters, digits, '_', '-', '.'")
    return value


def parse_query(params: dict) -> tuple[dict, int, int]:
    """Query string -> catalog filters. Repeat a facet to allow several values
    (``lang=en&lang=zh``); ``q`` searches the text; ``score_NAME=LO:HI`` (either side may be
    empty) keeps rows whose score lies in the range; ``page``, ``per_page``."""
    filters: dict = {k: params[k] for k in (*FACETS, "q")
                     if params.get(k)}
    scores = {}
    for k, v in params.items():
        if k.startswith("score_"):
            try:
                lo, hi = v[0].split(":")
                scores[k] = (float(lo) if lo else None, float(hi) if hi else None)
            except ValueError:
                raise HttpError(400, f"bad range {k}={v[0]!r}: use LO:HI, e.g. 100:600") from None
    filters["scores"] = scores
    try:
        return filters, int(_one(params, "page", False) or 0), int(_one(params, "per_page", False) or 60)
    except ValueError:
        raise HttpError(400, "page and per_page must be integers") from None


NO_FONT = ("no CJK font in the asset fonts (run `textsynth assets fetch`): Chinese text shows in "
           "the browser's own fonts, as boxes where it has none")


class Gallery:
    """The catalog, the tar reader, and the API handlers (plain functions of parameters)."""

    def __init__(self, dirs: list[str]):
        self.catalog = Catalog(dirs)
        self.tars = TarStore()
        self._font: bytes | None = None
        self._font_lock = threading.Lock()

    def _dataset(self, params):
        name = _name(params, "dataset")
        if name not in self.catalog.datasets:
            raise HttpError(404, f"no dataset {name!r}")
        return self.catalog.datasets[name]

    def _row(self, params) -> tuple[object, dict]:
        ds = self._dataset(params)
        shard, key = _name(params, "shard"), _name(params, "key")
        row = self.catalog.row(ds.name, shard, key)
        if row is None:
            raise HttpError(404, f"no sample {key!r} in {ds.name}/{shard}")
        return ds, row

    def datasets(self, params) -> dict:
        cat = self.catalog
        return {"datasets": [ds.summary(cat.rows_of(n)) for n, ds in cat.datasets.items()],
                "score_ranges": cat.score_ranges(), "total": cat.num_rows}

    def query(self, params) -> dict:
        for name in params.get("dataset", []):  # same answer as /api/stats and /api/sample
            if name not in self.catalog.datasets:
                raise HttpError(404, f"no dataset {name!r}")
        filters, page, per_page = parse_query(params)
        try:
            return self.catalog.query(filters, page, per_page)
        except QueryError as e:
            raise HttpError(400, str(e)) from None

    def sample(self, params) -> dict:
        ds, row = self._row(params)
        tar = ds.root / "shards" / f"{row['shard']}.tar"
        try:
            meta = json.loads(self.tars.read(tar, f"{row['key']}.json"))
        except (MemberError, ValueError) as e:
            raise HttpError(500, f"{ds.name}: {e}") from None
        return {"row": row, "meta": meta}

    def image(self, params) -> tuple[bytes, str]:
        ds, row = self._row(params)
        tar = ds.root / "shards" / f"{row['shard']}.tar"
        try:
            data = self.tars.read(tar, row["image"], row["image_offset"], row["image_size"])
        except MemberError as e:
            raise HttpError(500, f"{ds.name}: {e}") from None
        return data, IMAGE_TYPES.get(row["image"].rsplit(".", 1)[-1].lower(), "application/octet-stream")

    def stats(self, params) -> dict:
        return self.catalog.stats(self._dataset(params).name)

    def font(self, params) -> tuple[bytes, str]:
        """The CJK web font, found and extracted on first request."""
        with self._font_lock:
            if self._font is None:
                face = webfont.han_face()
                self._font = webfont.full_font(face) if face else b""  # b"": looked, none installed
                if not face:
                    print(f"gallery: {NO_FONT}", file=sys.stderr)  # once; the route 404s from now on
        if not self._font:
            raise HttpError(404, NO_FONT)
        return self._font, webfont.mime(self._font)

    def reject_image(self, params) -> tuple[bytes, str]:
        ds = self._dataset(params)
        shard, image = _name(params, "shard"), _name(params, "image")
        if not self.catalog.reject_member(ds.name, shard, image):
            raise HttpError(404, f"no reject example {image!r} in {ds.name}/{shard}")
        try:
            data = self.tars.read(ds.root / "rejects" / f"{shard}.tar", image)
        except MemberError as e:
            raise HttpError(500, f"{ds.name}: {e}") from None
        return data, IMAGE_TYPES.get(image.rsplit(".", 1)[-1].lower(), "application/octet-stream")


def make_handler(gallery: Gallery, quiet: bool = False, idle_timeout: float = IDLE_TIMEOUT_S):
    api_json = {"/api/datasets": gallery.datasets, "/api/query": gallery.query,
                "/api/sample": gallery.sample, "/api/stats": gallery.stats}
    api_bytes = {"/api/image": gallery.image, "/api/reject-image": gallery.reject_image,
                 webfont.FONT_ROUTE: gallery.font}

    class Handler(BaseHTTPRequestHandler):
        server_version = "textsynth-gallery"
        # Keep-alive (a browser fetches a page of thumbnails over a few connections), and a
        # socket timeout so an idle or stalled client's thread ends instead of living forever.
        protocol_version = "HTTP/1.1"
        timeout = idle_timeout

        def handle(self):
            try:
                super().handle()
            except (ConnectionError, TimeoutError):
                # the client went away (or went idle) mid-request: nothing to answer, not an error
                self.close_connection = True

        def _send(self, status: int, body: bytes, ctype: str, cache: str = "no-store") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", cache)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, obj) -> None:
            self._send(status, json.dumps(obj, ensure_ascii=False).encode(), "application/json")

        def do_GET(self):  # noqa: N802 - http.server's naming
            url = urlsplit(self.path)
            params = parse_qs(url.query, keep_blank_values=False)
            try:
                if url.path in STATIC:
                    name, ctype = STATIC[url.path]
                    self._send(200, static_file(name), ctype)
                elif url.path in api_json:
                    self._json(200, api_json[url.path](params))
                elif url.path in api_bytes:
                    data, ctype = api_bytes[url.path](params)
                    self._send(200, data, ctype, cache="max-age=3600")
                else:
                    raise HttpError(404, f"not found: {url.path}")
            except HttpError as e:
                self._json(e.status, {"error": str(e)})
            except (ConnectionError, TimeoutError):
                raise  # the client is gone; handle() ends the connection quietly
            except Exception as e:  # noqa: BLE001 - one bad request must not stop the server
                traceback.print_exc()
                self._json(500, {"error": f"{type(e).__name__}: {e}"})

        do_HEAD = do_GET

        def _read_only(self):
            self._json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "the gallery is read-only"})

        do_POST = do_PUT = do_DELETE = do_PATCH = _read_only

        def log_message(self, fmt, *args):
            if not quiet:
                sys.stderr.write(f"gallery: {self.address_string()} {fmt % args}\n")

    return Handler


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class GalleryServer(ThreadingHTTPServer):
    """One thread per connection (daemon threads: Ctrl-C never waits for a slow client)."""

    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG

    def handle_error(self, request, client_address):
        # socketserver prints a traceback for anything a handler raises; a client that
        # disconnects or times out is routine, only a real bug deserves the traceback
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def make_server(dirs: list[str], host: str = "127.0.0.1", port: int = 8765, quiet: bool = False,
                idle_timeout: float = IDLE_TIMEOUT_S) -> tuple[ThreadingHTTPServer, Gallery]:
    gallery = Gallery(dirs)
    return GalleryServer((host, port), make_handler(gallery, quiet, idle_timeout)), gallery
