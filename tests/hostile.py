"""Hostile registries: small loopback servers that misbehave the way real ones (and non-registries) do.

Each fixture is one way a target can go wrong: it hangs after accepting, hangs after ``/v2/``,
resets connections, sends an endless body, drips its answers, paginates forever or in a loop,
redirects in a loop, answers 50 MB of garbage JSON, a login page, or is not a registry at all
(Python's ``http.server``). Every server is bounded: each handler ends by itself within
``MAX_HANG`` seconds and the server stops when the ``with`` block ends.
"""

from __future__ import annotations

import contextlib
import http.server
import socket
import socketserver
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from aiohttp import web

from reference_server.app import create_app
from reference_server.config import ServerConfig
from reference_server.launcher import serve_in_thread

MAX_HANG = 90.0  # no handler of a hostile server lives longer than this
GARBAGE_BYTES = 50 * 1024 * 1024
V2_HEADERS = b"Docker-Distribution-API-Version: registry/2.0\r\n"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]


class _Stop(Exception):
    pass


class RawServer(socketserver.ThreadingTCPServer):
    """A threaded loopback server whose ``behave(request, socket)`` writes raw HTTP (or nothing)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, behave: Callable[[Request, socket.socket, RawServer], None]) -> None:
        self.behave = behave
        self.stopping = threading.Event()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def wait(self, seconds: float) -> None:
        """Sleep up to ``seconds`` (bounded by MAX_HANG), ending early when the server stops."""
        if self.stopping.wait(min(seconds, MAX_HANG)):
            raise _Stop


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(MAX_HANG)
        server: RawServer = self.server  # type: ignore[assignment]
        try:
            while not server.stopping.is_set():
                request = _read_request(sock)
                if request is None:
                    return
                if server.behave(request, sock, server) is False:
                    return  # the behaviour closed the connection (or wants it closed)
        except (_Stop, OSError):
            return


def _read_request(sock: socket.socket) -> Request | None:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            return None
        data += piece
        if len(data) > 1 << 20:
            return None
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path = (lines[0].split(" ") + ["", ""])[:2]
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    _drain_body(sock, headers, rest)
    return Request(method, path, headers)


def _drain_body(sock: socket.socket, headers: dict[str, str], rest: bytes) -> None:
    """Read (and drop) the request body, so the client is never cut off mid-upload."""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while not rest.endswith(b"0\r\n\r\n"):
            piece = sock.recv(1 << 20)
            if not piece:
                return
            rest = rest[-8:] + piece
        return
    left = int(headers.get("content-length") or 0) - len(rest)
    while left > 0:
        piece = sock.recv(min(left, 1 << 20))
        if not piece:
            return
        left -= len(piece)


def answer(sock: socket.socket, status: str, body: bytes = b"", content_type: str = "application/json",
           extra: bytes = b"") -> None:
    sock.sendall(f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n".encode()
                 + extra + b"\r\n" + body)


def _v2_ok(request: Request, sock: socket.socket) -> bool:
    if request.path.split("?")[0] in ("/v2/", "/v2"):
        answer(sock, "200 OK", b"{}", extra=V2_HEADERS)
        return True
    return False


# -- behaviours --------------------------------------------------------------------------------------

def hang_after_accept(request: Request, sock: socket.socket, server: RawServer) -> bool:
    server.wait(MAX_HANG)
    return False


def hang_after_v2(request: Request, sock: socket.socket, server: RawServer) -> bool:
    if _v2_ok(request, sock):
        return True
    server.wait(MAX_HANG)
    return False


def reset(request: Request, sock: socket.socket, server: RawServer) -> bool:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close sends RST
    sock.close()
    return False


def infinite_body(request: Request, sock: socket.socket, server: RawServer, after_v2: bool = False) -> bool:
    if after_v2 and _v2_ok(request, sock):
        return True
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + V2_HEADERS +
                 b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"[" * 65536
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    deadline = time.monotonic() + MAX_HANG
    while time.monotonic() < deadline and not server.stopping.is_set():
        sock.sendall(frame)
    return False


def slow_drip(request: Request, sock: socket.socket, server: RawServer) -> bool:
    if _v2_ok(request, sock):
        return True
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n")
    for _ in range(int(MAX_HANG / 0.2)):
        sock.sendall(b" ")
        server.wait(0.2)
    return False


def redirect_loop(request: Request, sock: socket.socket, server: RawServer) -> bool:
    path, _, query = request.path.partition("?")
    hop = "b" if query.endswith("hop=a") else "a"
    answer(sock, "302 Found", b"", "text/plain", f"Location: {path}?hop={hop}\r\n".encode())
    return True


def garbage_json(request: Request, sock: socket.socket, server: RawServer) -> bool:
    sock.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {GARBAGE_BYTES}\r\n"
                 .encode() + V2_HEADERS + b"\r\n")
    piece = b'{"errors": [[[[' * 4096
    sent = 0
    while sent < GARBAGE_BYTES and not server.stopping.is_set():
        part = piece[:GARBAGE_BYTES - sent]
        sock.sendall(part)
        sent += len(part)
    return False


LOGIN_PAGE = (b"<!DOCTYPE html><html><head><title>Sign in</title></head><body><form action=\"/login\" "
              b"method=\"post\"><input name=\"user\"><input name=\"password\" type=\"password\">"
              b"<button>Sign in</button></form></body></html>")


def html_login(request: Request, sock: socket.socket, server: RawServer) -> bool:
    if request.path.startswith("/login"):
        answer(sock, "200 OK", LOGIN_PAGE, "text/html; charset=utf-8")
    else:
        answer(sock, "302 Found", b"", "text/html", b"Location: /login?next=" + request.path.encode() + b"\r\n")
    return True


@contextlib.contextmanager
def raw_server(behave: Callable[..., bool]) -> Iterator[str]:
    server = RawServer(behave)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield server.url
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()


# -- servers built on real components ----------------------------------------------------------------

@contextlib.contextmanager
def python_http_server() -> Iterator[str]:
    """Python's own ``http.server`` serving an empty folder: an HTTP server, not a registry."""
    with tempfile.TemporaryDirectory() as folder:
        handler = _quiet(http.server.SimpleHTTPRequestHandler)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: handler(*a, directory=folder))
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()


def _quiet(cls: type) -> type:
    return type("Quiet" + cls.__name__, (cls,), {"log_message": lambda self, *a: None})


def _listing(request: web.Request) -> bool:
    return request.method == "GET" and (request.path.endswith("/tags/list") or request.path == "/v2/_catalog"
                                        or "/referrers/" in request.path)


def endless_link_middleware():
    """Every listing page links to a new URL (the same page again, one counter further): a chain without end."""
    @web.middleware
    async def endless(request: web.Request, handler):
        response = await handler(request)
        if _listing(request) and response.status == 200:
            page = int(request.query.get("page", "0")) + 1
            query = {k: v for k, v in request.query.items() if k != "page"} | {"page": str(page)}
            target = request.rel_url.with_query(query)
            response.headers["Link"] = f'<{target}>; rel="next"'
        return response
    return endless


def looping_link_middleware():
    """Every listing page links back to the first page of its listing: a loop."""
    @web.middleware
    async def looping(request: web.Request, handler):
        response = await handler(request)
        if _listing(request) and response.status == 200:
            response.headers["Link"] = f'<{request.path}?n=1>; rel="next"'
        return response
    return looping


@contextlib.contextmanager
def reference_with(middleware) -> Iterator[str]:
    with serve_in_thread(create_app(ServerConfig(storage="memory"), middlewares=[middleware])) as url:
        yield url


@dataclass(frozen=True)
class Hostile:
    """One hostile registry: how to start it, and words its cause must be named with."""

    name: str
    start: Callable[[], contextlib.AbstractContextManager[str]]
    cause: tuple[str, ...]  # one of these phrases names the cause (case-insensitive)
    reachable: bool = True  # False: nothing usable answers /v2/, so no check can run (exit 2)
    args: tuple[str, ...] = ()  # suite arguments: a real registry that only paginates wrong needs only its listings


LISTING_AREAS = ("-m", "discovery or referrers or management")

HOSTILE = (
    Hostile("hang-after-accept", lambda: raw_server(hang_after_accept), ("timed out",), reachable=False),
    Hostile("hang-after-v2", lambda: raw_server(hang_after_v2), ("stopped answering",)),
    Hostile("reset", lambda: raw_server(reset), ("reset", "closed connection"), reachable=False),
    Hostile("infinite-body", lambda: raw_server(infinite_body), ("exceeded",)),
    Hostile("infinite-body-after-v2", lambda: raw_server(lambda r, s, v: infinite_body(r, s, v, after_v2=True)),
            ("exceeded",)),
    Hostile("slow-drip", lambda: raw_server(slow_drip), ("stopped answering", "not complete")),
    Hostile("endless-link", lambda: reference_with(endless_link_middleware()), ("does not advance", "repeats"),
            args=LISTING_AREAS),
    Hostile("looping-link", lambda: reference_with(looping_link_middleware()), ("loops back", "repeats page"),
            args=LISTING_AREAS),
    Hostile("redirect-loop", lambda: raw_server(redirect_loop), ("redirect",), reachable=False),
    Hostile("garbage-json-50MB", lambda: raw_server(garbage_json), ("exceeded",)),
    Hostile("html-login-page", lambda: raw_server(html_login), ("not look like a registry",)),
    Hostile("not-a-registry", python_http_server, ("not look like a registry",)),
)
