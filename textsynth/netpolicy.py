"""What curation may reach: one network policy for web-page capture and for URL fetches.

Inputs come from strangers, and a page or a URL can point anywhere: at ``file:///etc/passwd``,
at a service on loopback, at the cloud metadata address. The policy:

- schemes: http and https go to the network; data, blob and about never leave the browser;
  a ``file:`` URL is allowed only when it is the input page itself; everything else
  (ftp, ws/wss WebSockets, chrome, ...) is refused;
- addresses: a host whose name resolves to ANY loopback, link-local, private (RFC 1918, ULA),
  shared (100.64/10), unspecified, reserved or multicast address, IPv4-mapped and other
  embedded forms included, is refused, unless ``ingest.allow_private_addresses`` is true or
  the address lies in one of the networks ``ingest.allow_networks`` lists.

The address check happens where the connection is made, on the very address connected to,
so a name that resolves differently the second time (DNS rebinding) and every redirect hop
are covered: URL fetches connect through :class:`Guard` (redirects re-checked per hop, proxy
variables ignored), and Chromium reaches the network only through :class:`SocksGuard`, a
SOCKS5 proxy that resolves and checks each name itself.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import threading
import time
import urllib.request
from dataclasses import dataclass
from functools import partial
from http import client
from urllib.parse import unquote, urljoin, urlsplit

NETWORK_SCHEMES = ("http", "https")
BROWSER_INTERNAL_SCHEMES = ("data", "blob", "about")
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class Refused(Exception):
    """The policy refuses this URL or address (not an OSError, so urllib passes it through)."""


class TimedOut(Exception):
    """The total time allowed for one URL ran out."""


def is_private(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for every address that is not plainly a public unicast one, looking through
    IPv4 addresses embedded in IPv6 (mapped ::ffff:a.b.c.d, 6to4, Teredo, NAT64)."""
    if ip.version == 6:
        embedded = (ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
                    or (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in NAT64 else None))
        if embedded is not None and is_private(embedded):
            return True
    return (not ip.is_global or ip.is_private or ip.is_loopback or ip.is_link_local
            or ip.is_multicast or ip.is_reserved or ip.is_unspecified)


@dataclass(frozen=True)
class Policy:
    """Which non-public addresses may be reached: all of them, or those in ``networks``."""
    allow_private: bool = False
    networks: tuple[str, ...] = ()   # CIDRs, e.g. "10.1.0.0/16" for an intranet image server

    @classmethod
    def from_config(cls, ingest: dict) -> Policy:
        return cls(ingest["allow_private_addresses"], tuple(ingest["allow_networks"]))

    def refuses(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return (not self.allow_private and is_private(ip)
                and not any(ip in ipaddress.ip_network(n) for n in self.networks))


def resolve(host: str, port: int, policy: Policy) -> list[tuple]:
    """``getaddrinfo`` results for ``host:port``; Refused when the policy refuses any of the
    addresses (a name with one public and one private address gets no chance at the private one)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise OSError(f"cannot resolve {host!r}: {e}") from None
    for *_, sockaddr in infos:
        ip = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        if policy.refuses(ip):
            shown = str(ip) if host == str(ip) else f"{host} ({ip})"
            raise Refused(f"{shown} is a private address (not in ingest.allow_networks)")
    return infos


def scheme_refusal(url: str, own_file: str | None = None) -> str | None:
    """Why the policy refuses ``url`` on its scheme alone, or None. ``own_file`` is the input
    page's own ``file:`` URL, the one local file a capture may read."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in NETWORK_SCHEMES or scheme in BROWSER_INTERNAL_SCHEMES:
        return None
    if scheme == "file":
        path = _file_path(url)
        if path and own_file and path == _file_path(own_file):
            return None
        return "local file other than the input page"
    return f"scheme {scheme or '(none)'!r} is not http(s)"


def _file_path(url: str) -> str | None:
    """The local path a ``file:`` URL names (None for a file on another host)."""
    parts = urlsplit(url)
    return unquote(parts.path) if parts.netloc in ("", "localhost") else None


def check_url(url: str, policy: Policy, own_file: str | None = None) -> None:
    """Refused unless the policy allows ``url``: its scheme and, for http(s), every address
    its host resolves to now (a host that does not resolve is left to fail on connecting).
    A check ahead of time, for a clear reason; the connection is checked again."""
    if why := scheme_refusal(url, own_file):
        raise Refused(why)
    parts = urlsplit(url)
    if parts.scheme.lower() in NETWORK_SCHEMES:
        try:
            resolve(parts.hostname or "", parts.port or (443 if parts.scheme.lower() == "https" else 80),
                    policy)
        except (OSError, ValueError):
            pass


# ---------------------------------------------------------------- URL fetches (urllib)

class Guard:
    """Connections for one URL fetch: each address checked before connecting, all within one
    total deadline. A watchdog shuts the open sockets down when the deadline passes, so a
    server that trickles a byte at a time (status line, headers or body) cannot hold a fetch
    longer than ``timeout_s``: a per-read socket timeout alone would restart with every byte."""

    def __init__(self, policy: Policy, timeout_s: float):
        self.policy = policy
        self.end = time.monotonic() + timeout_s
        self.expired = False
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(timeout_s, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimedOut
        return left

    def connect(self, address, timeout=None, source_address=None) -> socket.socket:
        """``socket.create_connection`` with the policy: the address connected to is checked,
        and the deadline's remaining time stands in for the per-call ``timeout``."""
        host, port = address
        error: OSError | None = None
        for family, kind, proto, _, sockaddr in resolve(host, port, self.policy):
            sock = socket.socket(family, kind, proto)
            self.watch(sock)
            try:
                sock.settimeout(self.remaining())
                sock.connect(sockaddr)
                return sock
            except OSError as e:
                sock.close()
                error = e
        raise error or OSError(f"no address for {host!r}")

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._socks.append(sock)
            if self.expired:
                _shutdown(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._socks:
                _shutdown(sock)

    def close(self) -> None:
        self._timer.cancel()


def _shutdown(sock: socket.socket) -> None:
    """Shut the connection at the OS level: a blocked read in another thread returns at once
    (an SSLSocket's own shutdown() would tear down its TLS state under that reader)."""
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


class _Guarded:
    def __init__(self, *args, guard: Guard, **kwargs):
        super().__init__(*args, **kwargs)
        self._guard = guard
        self._create_connection = guard.connect

    def connect(self):
        super().connect()
        self._guard.watch(self.sock)  # for https, the TLS socket that replaced the plain one


class _HTTPConnection(_Guarded, client.HTTPConnection):
    pass


class _HTTPSConnection(_Guarded, client.HTTPSConnection):
    pass


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, guard: Guard):
        super().__init__()
        self.guard = guard

    def http_open(self, req):
        return self.do_open(partial(_HTTPConnection, guard=self.guard), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, guard: Guard):
        super().__init__()
        self.guard = guard

    def https_open(self, req):
        return self.do_open(partial(_HTTPSConnection, guard=self.guard), req, context=self._context)


class _RedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to http(s); the new host is checked when it is connected to."""

    def http_error_302(self, req, fp, code, msg, headers):
        target = urljoin(req.full_url, headers.get("location") or headers.get("uri") or "")
        scheme = urlsplit(target).scheme.lower()
        if scheme not in NETWORK_SCHEMES:
            fp.close()
            raise Refused(f"redirect to {target[:200]!r}: scheme {scheme or '(none)'!r} is not http(s)")
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def fetch(url: str, policy: Policy, timeout_s: float, limit: int) -> bytes:
    """At most ``limit`` bytes of the http(s) ``url``, within ``timeout_s`` in total (connects,
    redirects, headers and body). Raises Refused, TimedOut, or OSError/HTTPError as urllib does.
    Only the http(s) handlers are installed (no file:, ftp: or data:), and no proxy."""
    if urlsplit(url).scheme.lower() not in NETWORK_SCHEMES:
        raise Refused(f"{url[:200]!r} is not an http(s) URL")
    guard = Guard(policy, timeout_s)
    opener = urllib.request.OpenerDirector()
    for handler in (_HTTPHandler(guard), _HTTPSHandler(guard), _RedirectHandler(),
                    urllib.request.HTTPDefaultErrorHandler(), urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    try:
        with opener.open(url, timeout=guard.remaining()) as response:
            data = bytearray()
            while len(data) < limit and (chunk := response.read(min(65536, limit - len(data)))):
                data += chunk
    except (OSError, client.HTTPException) as e:
        timeout = isinstance(e, TimeoutError) or isinstance(getattr(e, "reason", None), TimeoutError)
        if guard.expired or timeout:  # urllib wraps a socket timeout in URLError
            raise TimedOut from None
        raise
    finally:
        guard.close()
    if guard.expired:  # the watchdog's shutdown reads as an early end of the body
        raise TimedOut
    return bytes(data)


# ---------------------------------------------------------------- web capture (Chromium)

class SocksGuard:
    """A SOCKS5 proxy on 127.0.0.1 for one browser, connecting only where the policy allows.

    Chromium sends it the host name (it resolves nothing itself), so the address checked is
    the address connected to; this covers what request interception does not see: redirect
    hops, WebSockets, service workers, preconnects. ``refused`` lists what it turned away."""

    def __init__(self, policy: Policy):
        self.policy = policy
        self.refused: list[str] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]

    def __enter__(self) -> SocksGuard:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        upstream = None
        try:
            host, port = _socks5_request(conn)
            try:
                infos = resolve(host, port, self.policy)
            except Refused as e:
                self.refused.append(f"{host}:{port}: {e}")
                conn.sendall(b"\x05\x02\x00\x01" + bytes(6))  # 2: not allowed by ruleset
                return
            upstream = _connect_any(infos)
            conn.sendall(b"\x05\x00\x00\x01" + bytes(6))
            back = threading.Thread(target=_pipe, args=(upstream, conn), daemon=True)
            back.start()
            _pipe(conn, upstream)
            back.join()
        except (OSError, ValueError):
            try:
                conn.sendall(b"\x05\x01\x00\x01" + bytes(6))  # 1: general failure
            except OSError:
                pass
        finally:
            for sock in (conn, upstream):
                if sock is not None:
                    sock.close()


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ValueError("SOCKS client closed early")
        data += chunk
    return data


def _socks5_request(conn: socket.socket) -> tuple[str, int]:
    """The (host, port) of a SOCKS5 CONNECT request, after the no-auth greeting."""
    conn.settimeout(30)
    version, n_methods = _recv_exact(conn, 2)
    _recv_exact(conn, n_methods)
    if version != 5:
        raise ValueError("not SOCKS5")
    conn.sendall(b"\x05\x00")
    version, command, _, kind = _recv_exact(conn, 4)
    if version != 5 or command != 1:
        raise ValueError("only SOCKS5 CONNECT")
    if kind == 1:
        host = socket.inet_ntop(socket.AF_INET, _recv_exact(conn, 4))
    elif kind == 3:
        host = _recv_exact(conn, _recv_exact(conn, 1)[0]).decode("ascii")  # IDNs arrive as punycode
    elif kind == 4:
        host = socket.inet_ntop(socket.AF_INET6, _recv_exact(conn, 16))
    else:
        raise ValueError("bad SOCKS5 address type")
    (port,) = struct.unpack(">H", _recv_exact(conn, 2))
    conn.settimeout(None)
    return host, port


def _connect_any(infos: list[tuple]) -> socket.socket:
    error: OSError | None = None
    for family, kind, proto, _, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(30)
            sock.connect(sockaddr)
            sock.settimeout(None)
            return sock
        except OSError as e:
            sock.close()
            error = e
    raise error or OSError("no address")


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    """Copy until either side ends, then shut both down (the other direction's copy ends too)."""
    try:
        while chunk := src.recv(65536):
            dst.sendall(chunk)
    except OSError:
        pass
    finally:
        for sock in (src, dst):
            _shutdown(sock)
