"""The gallery's HTTP server: read-only JSON API + the single-page app, standard library only.

Routes (GET/HEAD only; everything else is 405):
  /                       the app (static/index.html); /static/{app.js,style.css}
  /api/datasets           datasets, their errors, score ranges
  /api/query              filtered page + facet counts (see :func:`parse_query`)
  /api/sample             one sample's index row and full metadata (from the tar's .json)
  /api/image              one sample's image bytes, straight from its tar
                          (both take dataset, key and shard; without shard the key is looked
                          up in the dataset's shards: the app's #sample=DATASET/KEY links)
  /api/stats              per-dataset counts and rejects by reason with examples
  /api/reject-image       an example crop of a reject (curate output)
  /fonts/han.ttf          the CJK web font (gallery/webfont.py); 404 when none is installed

Nothing is addressed by a path from the request: datasets are looked up by name in the
catalog, shards and keys must match a strict name pattern *and* exist in the index, and
static files come from a fixed list. So `..`, absolute paths and encoded variants of them
cannot reach a file outside the served directories (and the catalog refuses files that are
symlinks or resolve outside them).

Every request is checked before it is answered:
  Host          only the address the client connected to (plus ``localhost`` on loopback and
                the ``--host`` name), or an ``--allow-host`` name: anything else is 403, so a
                web page cannot reach the gallery through DNS rebinding
  request head  line + headers within ``idle_timeout`` seconds in all (a deadline, not a
                per-read timeout: trickled bytes do not extend it) and ``max_header_bytes``
                (431); http.server caps the request line at 64 KiB and the headers at 100
  body          none is used: up to ``max_body_bytes`` is read and dropped, so the next request
                on a keep-alive connection starts where it should; a larger one is 413, a
                chunked one 400, and either closes the connection
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import json
import math
import socket
import sys
import threading
import time
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from textsynth.gallery import webfont
from textsynth.gallery.catalog import FACETS, NAME_RE, Catalog, QueryError
from textsynth.gallery.files import UnsafeFile
from textsynth.gallery.tarstore import MemberError, TarStore

STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
          "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/static/style.css": ("style.css", "text/css; charset=utf-8")}
IDLE_TIMEOUT_S = 30   # a connection with no complete request for this long is closed
MAX_HEADER_BYTES = 65536  # the headers of one request, all lines together (431 beyond)
MAX_BODY_BYTES = 65536    # a request body, read and dropped (413 and close beyond)
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
        """The sample named by dataset, key and (optional: a shared link names none) shard."""
        ds = self._dataset(params)
        key = _name(params, "key")
        if _one(params, "shard", required=False) is None:
            row = self.catalog.row_by_key(ds.name, key)
            where = ds.name
        else:
            shard = _name(params, "shard")
            row = self.catalog.row(ds.name, shard, key)
            where = f"{ds.name}/{shard}"
        if row is None:
            raise HttpError(404, f"no sample {key!r} in {where}")
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

    def _member(self, ds, folder: str, shard: str, name: str, offset=None, size=None) -> bytes:
        """A member of ``ds.root/folder/shard.tar``: 403 for a tar that must not be opened
        (a symlink, or out of the served dir), 500 for a missing member or a broken tar."""
        try:
            return self.tars.read(ds.root, f"{folder}/{shard}.tar", name, offset, size)
        except UnsafeFile as e:
            raise HttpError(403, f"{ds.name}: {e}") from None
        except MemberError as e:
            raise HttpError(500, f"{ds.name}: {e}") from None

    def sample(self, params) -> dict:
        ds, row = self._row(params)
        try:
            meta = json.loads(self._member(ds, "shards", row["shard"], f"{row['key']}.json"))
        except ValueError as e:
            raise HttpError(500, f"{ds.name}: {row['key']}.json: {e}") from None
        return {"row": row, "meta": meta}

    def image(self, params) -> tuple[bytes, str]:
        ds, row = self._row(params)
        data = self._member(ds, "shards", row["shard"], row["image"], row["image_offset"], row["image_size"])
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
        data = self._member(ds, "rejects", shard, image)
        return data, IMAGE_TYPES.get(image.rsplit(".", 1)[-1].lower(), "application/octet-stream")


class _DeadlineReader(io.RawIOBase):
    """The connection's read side. Each recv waits only for the time left until ``deadline``,
    so a client that trickles bytes cannot keep a request open past it."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.deadline = float("inf")

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("request not complete before the idle timeout")
        self.sock.settimeout(left)
        return self.sock.recv_into(buf)


class _HeadersTooLarge(http.client.LineTooLong):
    def __init__(self, limit: int):
        http.client.HTTPException.__init__(self, f"request headers over {limit} bytes")


class _RequestFile(io.BufferedReader):
    """Buffered reads over a :class:`_DeadlineReader`; ``readline`` counts down a byte budget
    for the header lines (http.server turns the LineTooLong into a 431)."""

    budget = limit = float("inf")

    def readline(self, size: int = -1) -> bytes:
        line = super().readline(size)
        self.budget -= len(line)
        if self.budget < 0:
            raise _HeadersTooLarge(self.limit)
        return line


def split_host(value: str) -> str | None:
    """The name in a Host header value (``name``, ``name:port``, ``[v6]``, ``[v6]:port``),
    lower case, without a trailing dot; None when it is malformed. The port is not compared:
    a forwarded port (``ssh -L 9000:localhost:8765``) changes it, and rebinding is about names."""
    value = value.strip().lower()
    if value.startswith("["):
        name, bracket, port = value[1:].partition("]")
        if not bracket or (port and not port.startswith(":")):
            return None
        port = port[1:] if port else None
    elif value.count(":") > 1:  # an IPv6 address needs brackets
        return None
    else:
        name, colon, port = value.partition(":")
        port = port if colon else None
    if not name or (port is not None and not (port.isascii() and port.isdigit())):
        return None
    return name.rstrip(".")


def _ip(name: str):
    """``name`` as an address (an IPv4-mapped IPv6 one as IPv4), or None for a host name."""
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return None
    return ip.ipv4_mapped or ip if ip.version == 6 else ip


def _same_host(a: str, b: str) -> bool:
    """Addresses compare as addresses (``::ffff:127.0.0.1`` is ``127.0.0.1``), names as names."""
    ip_a, ip_b = _ip(a), _ip(b)
    if ip_a is not None or ip_b is not None:
        return ip_a == ip_b
    return a.lower().rstrip(".") == b.lower().rstrip(".")


def make_handler(gallery: Gallery, quiet: bool = False, idle_timeout: float = IDLE_TIMEOUT_S,
                 host_names: tuple[str, ...] = (), allow_hosts: tuple[str, ...] = (),
                 max_header_bytes: int = MAX_HEADER_BYTES, max_body_bytes: int = MAX_BODY_BYTES):
    """``host_names``: names the gallery was told to listen on (``--host``); ``allow_hosts``:
    further Host names to answer (``--allow-host``)."""
    api_json = {"/api/datasets": gallery.datasets, "/api/query": gallery.query,
                "/api/sample": gallery.sample, "/api/stats": gallery.stats}
    api_bytes = {"/api/image": gallery.image, "/api/reject-image": gallery.reject_image,
                 webfont.FONT_ROUTE: gallery.font}

    class Handler(BaseHTTPRequestHandler):
        server_version = "textsynth-gallery"
        # Keep-alive (a browser fetches a page of thumbnails over a few connections). A request
        # must arrive within idle_timeout (_DeadlineReader) and each send of the answer gets as
        # long, so an idle or stalled client's thread ends instead of living forever.
        protocol_version = "HTTP/1.1"
        timeout = idle_timeout

        def setup(self):
            super().setup()
            self.rfile.close()  # the plain socket file: replaced by one that keeps a deadline
            self.rfile = _RequestFile(_DeadlineReader(self.connection))

        def handle_one_request(self):
            # a request (line, headers, body) must arrive within idle_timeout of the last answer
            self.rfile.raw.deadline = time.monotonic() + idle_timeout
            super().handle_one_request()

        def parse_request(self) -> bool:
            self.rfile.budget = self.rfile.limit = max_header_bytes  # (http.server caps the line)
            try:
                parsed = super().parse_request()
            finally:
                self.rfile.budget = float("inf")
            if not parsed or not self._drop_body() or not self._check_host():
                return False
            self.connection.settimeout(idle_timeout)  # back to a per-send timeout for the answer
            return True

        def _refuse(self, status: int, message: str) -> bool:
            self.close_connection = True
            self._json(status, {"error": message})
            return False

        def _drop_body(self) -> bool:
            """Read and drop the body (the gallery never uses one), so the next request on
            this connection starts at the right byte; refuse what cannot be dropped cheaply."""
            if "Transfer-Encoding" in self.headers:
                return self._refuse(400, "request bodies are not accepted (Transfer-Encoding)")
            lengths = {v.strip() for v in self.headers.get_all("Content-Length") or []}
            if not lengths:
                return True
            length = lengths.pop() if len(lengths) == 1 else ""
            if not (length.isascii() and length.isdigit()):
                return self._refuse(400, "bad Content-Length (one decimal number, please)")
            if int(length) > max_body_bytes:
                return self._refuse(413, f"request body over {max_body_bytes} bytes")
            left = int(length)
            while left:
                chunk = self.rfile.read(min(left, 65536))
                if not chunk:
                    raise ConnectionError("client closed the connection mid-body")
                left -= len(chunk)
            return True

        def _check_host(self) -> bool:
            """DNS rebinding guard: answer only names this gallery is known by."""
            if not self.path.startswith("/"):  # absolute-form (http://NAME/...) names a host too
                return self._refuse(400, "the request target must be a path")
            values = self.headers.get_all("Host") or []
            name = split_host(values[0]) if len(values) == 1 else None
            if name is None:
                return self._refuse(400, "one well-formed Host header is required")
            local = self.connection.getsockname()[0]
            known = [local, *host_names, *allow_hosts, *(["localhost"] if is_loopback(local) else [])]
            if any(_same_host(name, k) for k in known):
                return True
            return self._refuse(403, f"host {name!r} not allowed: this gallery answers to "
                                     f"{', '.join(dict.fromkeys(known))} (add --allow-host {name} to accept it)")

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
            if self.close_connection:
                self.send_header("Connection", "close")
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
    ip = _ip(host)
    return ip is not None and ip.is_loopback


class GalleryServer(ThreadingHTTPServer):
    """One thread per connection (daemon threads: Ctrl-C never waits for a slow client)."""

    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG

    def handle_error(self, request, client_address):
        # socketserver prints a traceback for anything a handler raises; a client that
        # disconnects or times out is routine, only a real bug deserves the traceback
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class GalleryServer6(GalleryServer):
    address_family = socket.AF_INET6


def make_server(dirs: list[str], host: str = "127.0.0.1", port: int = 8765, quiet: bool = False,
                idle_timeout: float = IDLE_TIMEOUT_S, allow_hosts: tuple[str, ...] = (),
                max_header_bytes: int = MAX_HEADER_BYTES,
                max_body_bytes: int = MAX_BODY_BYTES) -> tuple[ThreadingHTTPServer, Gallery]:
    """A gallery server bound to ``host`` (an IPv6 address binds an IPv6 socket). Requests must
    name ``host``, the address they reached, ``localhost`` on loopback, or one of ``allow_hosts``."""
    if not (math.isfinite(idle_timeout) and idle_timeout > 0):
        raise ValueError(f"--idle-timeout must be a positive number of seconds, not {idle_timeout}")
    for flag, value in (("--max-header-bytes", max_header_bytes), ("--max-body-bytes", max_body_bytes)):
        if value < 0:
            raise ValueError(f"{flag} must be >= 0, not {value}")
    gallery = Gallery(dirs)
    names = tuple(h for h in (host.strip("[]"),) if h and not _wildcard(h))
    handler = make_handler(gallery, quiet, idle_timeout, names, tuple(allow_hosts),
                           max_header_bytes, max_body_bytes)
    cls = GalleryServer6 if ":" in host else GalleryServer
    return cls((host.strip("[]"), port), handler), gallery


def _wildcard(host: str) -> bool:
    """0.0.0.0 or :: (every interface): not a name a client uses; the connection's own address is."""
    ip = _ip(host)
    return ip is not None and ip.is_unspecified
