"""A lean HTTP/1.1 keep-alive transport with the ``requests.Session`` surface RegistryClient uses.

Why: the load generator, not the registry, sets the figures when one request costs the generator
more CPU than it costs the server. geventhttpclient's client spent about 200 µs of CPU per small
request here; this transport spends about half of that: one pooled connection
per origin, request heads built as one string, headers parsed with ``str.split``, and, on gevent
sockets (Locust monkey-patches ``socket``), a wait for readability before each receive instead of
a receive that fails first. Bodies are either read whole (``stream=False``) or left on the socket
for the caller to stream (``iter_content`` / ``iter_views``), so blobs are hashed as they arrive.

Protocol knowledge stays in RegistryClient: this module only moves bytes. Errors are raised as
``requests`` exceptions (ConnectionError, ReadTimeout) so the client handles both transports alike.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterable, Iterator
from urllib.parse import urljoin, urlsplit

import requests

MAX_HEAD = 64 * 1024
MAX_HEADERS = 200
MAX_BODY = 256 * 1024 * 1024  # a body read whole (not streamed); blobs are streamed instead
MAX_REDIRECTS = 10
RECV_SIZE = 64 * 1024  # below malloc's mmap threshold: a larger recv() buffer costs page faults each time
USER_AGENT = "registry-harness-load"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_NO_BODY = frozenset({204, 304})


class TransportError(requests.ConnectionError):
    """The connection failed or the server's answer is not HTTP/1.1 the transport can frame."""


class TransportTimeout(requests.ReadTimeout):
    """No answer (or no next piece of the body) within the request's timeout."""


class Headers(dict):
    """Response headers: case-insensitive ``get`` / ``[]`` / ``in``; ``items()`` keeps the names as sent."""

    __slots__ = ("raw",)

    def __init__(self, mapping: dict[str, str], raw: list[tuple[str, str]]) -> None:
        super().__init__(mapping)
        self.raw = raw

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return dict.get(self, name.lower(), default)

    def __getitem__(self, name: str) -> str:
        return dict.__getitem__(self, name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and dict.__contains__(self, name.lower())

    def items(self):  # type: ignore[override]
        return list(self.raw)


def parse_headers(lines: list[str]) -> Headers:
    """Header lines (``Name: value``) into Headers; repeated names are joined with ", " as RFC 9110 allows."""
    if len(lines) > MAX_HEADERS:
        raise TransportError(f"more than {MAX_HEADERS} response headers")
    raw = []
    mapping: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep:
            raise TransportError(f"malformed header line {line[:60]!r}")
        value = value.strip()
        raw.append((name, value))
        key = name.lower()
        if key in mapping:
            mapping[key] = f"{mapping[key]}, {value}"
        else:
            mapping[key] = value
    return Headers(mapping, raw)


class SentRequest:
    """What was sent (``response.request``): method, URL and headers, as requests' PreparedRequest has."""

    __slots__ = ("method", "url", "headers")

    def __init__(self, method: str, url: str, headers: dict[str, str]) -> None:
        self.method = method
        self.url = url
        self.headers = headers


class Connection:
    """One keep-alive connection to an origin; reads use the gevent fast path when available."""

    __slots__ = ("sock", "raw", "wait", "event", "buffer", "key", "closed")

    def __init__(self, sock: socket.socket, key: tuple[str, str, int]) -> None:
        self.sock = sock
        self.key = key
        self.buffer = b""
        self.closed = False
        # gevent's cooperative socket: its raw non-blocking socket, its read watcher and wait().
        raw, wait, event = (getattr(sock, attr, None) for attr in ("_sock", "_wait", "_read_event"))
        fast = raw is not None and wait is not None and event is not None and not isinstance(sock, ssl.SSLSocket)
        self.raw = raw if fast else None
        self.wait = wait
        self.event = event

    def send(self, data: bytes | memoryview) -> None:
        raw = self.raw
        if raw is not None:
            try:
                sent = raw.send(data)
            except BlockingIOError:
                sent = 0
            if sent == len(data):
                return
            data = memoryview(data)[sent:]
        self.sock.sendall(data)

    def recv(self, first: bool = False) -> bytes:
        """Some bytes from the socket (b"" at end of stream); ``first``: nothing can be there yet."""
        raw = self.raw
        if raw is None:
            return self.sock.recv(RECV_SIZE)
        if not first:
            try:
                return raw.recv(RECV_SIZE)
            except BlockingIOError:
                pass
        while True:
            self.wait(self.event)
            try:
                return raw.recv(RECV_SIZE)
            except BlockingIOError:
                continue

    def recv_into(self, view: memoryview) -> int:
        raw = self.raw
        if raw is None:
            return self.sock.recv_into(view)
        while True:
            try:
                return raw.recv_into(view)
            except BlockingIOError:
                self.wait(self.event)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass


class FastResponse:
    """A response with the attributes RegistryClient and the workloads read (requests' names)."""

    def __init__(self, session: FastSession, conn: Connection | None, request: SentRequest, status: int,
                 reason: str, headers: Headers, keep_alive: bool) -> None:
        self.session = session
        self.conn = conn
        self.request = request
        self.url = request.url
        self.status_code = status
        self.reason = reason
        self.headers = headers
        self.history: list[FastResponse] = []
        self.keep_alive = keep_alive
        self._content: bytes | None = None
        self.received = 0  # body bytes read so far
        self.remaining: int | None = None  # bytes of a Content-Length body still on the socket
        self.chunked = False
        self.done = False

    # -- body framing ----------------------------------------------------------------------------

    def _frame(self, method: str) -> None:
        status = self.status_code
        if method == "HEAD" or status in _NO_BODY or 100 <= status < 200:
            self._finish(b"")
            return
        encoding = self.headers.get("transfer-encoding")
        if encoding is not None and "chunked" in encoding.lower():
            self.chunked = True
            return
        length = self.headers.get("content-length")
        if length is not None:
            try:
                self.remaining = int(length.split(",")[0])
            except ValueError:
                raise TransportError(f"unreadable Content-Length {length!r}") from None
            if self.remaining < 0:
                raise TransportError(f"negative Content-Length {length!r}")
            if self.remaining == 0:
                self._finish(b"")
            return
        self.keep_alive = False  # the body ends when the server closes the connection

    def _finish(self, content: bytes | None) -> None:
        if content is not None and self._content is None:
            self._content = content
        if not self.done:
            self.done = True
            conn, self.conn = self.conn, None
            if conn is not None:
                self.session._release(conn, self.keep_alive)

    def iter_views(self, chunk_size: int = RECV_SIZE) -> Iterator[memoryview | bytes]:
        """The body as it arrives, as views of one reused buffer (hash or copy each before the next)."""
        if self._content is not None:
            if self._content:
                yield self._content
            return
        if self.done:
            return
        conn = self.conn
        if conn is None:
            return
        if self.chunked:
            yield from self._iter_chunked(conn)
            return
        pending = conn.buffer
        conn.buffer = b""
        if self.remaining is None:  # until close
            if pending:
                self.received += len(pending)
                yield pending
            while True:
                data = conn.recv()
                if not data:
                    break
                self.received += len(data)
                yield data
            self._finish(None)
            return
        if pending:
            take = pending[:self.remaining]
            conn.buffer = pending[len(take):]
            self.remaining -= len(take)
            self.received += len(take)
            yield take
        buffer = bytearray(max(chunk_size, 64 * 1024))
        view = memoryview(buffer)
        while self.remaining > 0:
            n = conn.recv_into(view[:min(len(buffer), self.remaining)])
            if n == 0:
                conn.close()
                raise TransportError(f"connection closed with {self.remaining} body bytes still due")
            self.remaining -= n
            self.received += n
            yield view[:n]
        self._finish(None)

    def _iter_chunked(self, conn: Connection) -> Iterator[bytes]:
        buffer = conn.buffer
        conn.buffer = b""
        while True:
            while b"\r\n" not in buffer:
                if len(buffer) > MAX_HEAD:
                    raise TransportError("chunk size line too long")
                data = conn.recv()
                if not data:
                    raise TransportError("connection closed inside a chunked body")
                buffer += data
            line, _, buffer = buffer.partition(b"\r\n")
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise TransportError(f"unreadable chunk size {line[:40]!r}") from None
            if size == 0:
                while b"\r\n\r\n" not in b"\r\n" + buffer:  # trailers end with an empty line
                    data = conn.recv()
                    if not data:
                        break
                    buffer += data
                end = (b"\r\n" + buffer).find(b"\r\n\r\n")
                conn.buffer = buffer[max(end + 2, 0):] if end >= 0 else b""
                self._finish(None)
                return
            while len(buffer) < size + 2:
                data = conn.recv()
                if not data:
                    raise TransportError("connection closed inside a chunk")
                buffer += data
            chunk, buffer = buffer[:size], buffer[size + 2:]
            self.received += size
            yield chunk

    def iter_content(self, chunk_size: int = RECV_SIZE, decode_unicode: bool = False) -> Iterator[bytes]:
        """The body as it arrives, as bytes (requests' name)."""
        for piece in self.iter_views(chunk_size):
            yield bytes(piece)

    @property
    def content(self) -> bytes:
        if self._content is None:
            if self.remaining is not None and self.remaining > MAX_BODY:
                raise TransportError(f"body of {self.remaining} bytes exceeds the {MAX_BODY}-byte limit; stream it")
            conn = self.conn
            if self.remaining is not None and conn is not None and len(conn.buffer) >= self.remaining:
                content, conn.buffer = conn.buffer[:self.remaining], conn.buffer[self.remaining:]
                self.received += len(content)
                self.remaining = 0
                self._finish(content)
                return content
            pieces = []
            total = 0
            for piece in self.iter_views():
                total += len(piece)
                if total > MAX_BODY:
                    self.close()
                    raise TransportError(f"body exceeds the {MAX_BODY}-byte limit; stream it")
                pieces.append(bytes(piece))
            self._content = b"".join(pieces)
        return self._content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self, **kwargs: object) -> object:
        return json.loads(self.content, **kwargs)

    @property
    def ok(self) -> bool:
        return self.status_code < 400

    def close(self) -> None:
        """Give the connection up without reading the rest of the body."""
        if not self.done:
            self.keep_alive = False
            self._finish(None)

    def __repr__(self) -> str:
        return f"<FastResponse [{self.status_code}]>"


class FastSession:
    """Connection pools per origin and ``request`` with requests' keyword arguments (the ones the client uses)."""

    def __init__(self, pool_size: int = 4) -> None:
        self.verify: bool | str = True
        self.pool_size = pool_size
        self.idle: dict[tuple[str, str, int], list[Connection]] = {}
        self._origins: dict[str, tuple[str, str, int, str]] = {}
        self._ssl: dict[object, ssl.SSLContext] = {}
        self.in_flight: FastResponse | None = None

    # -- requests' surface ------------------------------------------------------------------------

    def get(self, url: str, **kwargs: object) -> FastResponse:
        return self.request("GET", url, **kwargs)

    def head(self, url: str, **kwargs: object) -> FastResponse:
        return self.request("HEAD", url, **kwargs)

    def request(self, method: str, url: str, params: object = None, data: object = None,
                headers: dict[str, str] | None = None, stream: bool = False, allow_redirects: bool = True,
                timeout: float | None = None, verify: bool | str | None = None, **_ignored: object) -> FastResponse:
        """Send one request (following redirects for GET/HEAD when asked); read the body unless ``stream``."""
        if params:
            from registry_harness.client import with_query  # one query builder for both transports

            url = with_query(url, params)  # type: ignore[arg-type]
        method = method.upper()
        verify = self.verify if verify is None else verify
        history: list[FastResponse] = []
        sent_headers = headers or {}
        for _ in range(MAX_REDIRECTS + 1):
            response = self._send(method, url, sent_headers, data, timeout, verify)
            if not (allow_redirects and response.status_code in _REDIRECTS and response.headers.get("location")):
                break
            response.content  # noqa: B018 - drain the redirect's body so its connection can be reused
            history.append(response)
            target = urljoin(url, response.headers["location"])
            if response.status_code == 303 and method != "HEAD":
                method, data = "GET", None
            if urlsplit(target).netloc != urlsplit(url).netloc:
                sent_headers = {k: v for k, v in sent_headers.items() if k.lower() != "authorization"}
            url = target
        else:
            raise TransportError(f"more than {MAX_REDIRECTS} redirects")
        response.history = history
        if not stream:
            response.content  # noqa: B018 - read the whole body now
        return response

    def close(self) -> None:
        for pool in self.idle.values():
            for conn in pool:
                conn.close()
        self.idle.clear()

    # -- internals --------------------------------------------------------------------------------

    def _origin(self, url: str) -> tuple[str, str, int, str, str]:
        """(scheme, host, port, Host header, path+query) of an absolute URL; origins are cached."""
        cut = url.find("/", url.find("//") + 2)
        origin, path = (url, "/") if cut < 0 else (url[:cut], url[cut:])
        known = self._origins.get(origin)
        if known is None:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise requests.exceptions.InvalidURL(f"cannot send to {url!r}")
            port = parts.port or (443 if parts.scheme == "https" else 80)
            known = self._origins[origin] = (parts.scheme, parts.hostname, port, parts.netloc)
        scheme, host, port, netloc = known
        hash_at = path.find("#")
        return scheme, host, port, netloc, path if hash_at < 0 else path[:hash_at]

    def _connect(self, scheme: str, host: str, port: int, timeout: float | None, verify: bool | str) -> Connection:
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                sock = self._context(verify).wrap_socket(sock, server_hostname=host)
        except TimeoutError as exc:
            raise requests.ConnectTimeout(f"connecting to {host}:{port} timed out") from exc
        except (OSError, ssl.SSLError) as exc:
            raise TransportError(f"cannot connect to {host}:{port}: {exc}") from exc
        return Connection(sock, (scheme, host, port))

    def _context(self, verify: bool | str) -> ssl.SSLContext:
        context = self._ssl.get(verify)
        if context is None:
            if verify is False:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            elif isinstance(verify, str):
                context = ssl.create_default_context(cafile=verify)
            else:
                context = ssl.create_default_context()
            self._ssl[verify] = context
        return context

    def _release(self, conn: Connection, keep: bool) -> None:
        if self.in_flight is not None and self.in_flight.conn is None:
            self.in_flight = None
        if not keep or conn.closed or conn.buffer:
            conn.close()
            return
        pool = self.idle.setdefault(conn.key, [])
        if len(pool) < self.pool_size:
            pool.append(conn)
        else:
            conn.close()

    def _send(self, method: str, url: str, headers: dict[str, str], data: object, timeout: float | None,
              verify: bool | str) -> FastResponse:
        previous = self.in_flight
        if previous is not None and not previous.done:
            previous.close()  # a streamed body nobody read to the end: its connection cannot be reused
        scheme, host, port, netloc, path = self._origin(url)
        head = [f"{method} {path} HTTP/1.1\r\nHost: {netloc}\r\nUser-Agent: {USER_AGENT}\r\n"]
        for name, value in headers.items():
            head.append(f"{name}: {value}\r\n")
        body, pieces = _body(data)
        if body is not None:
            head.append(f"Content-Length: {len(body)}\r\n")
        elif pieces is not None:
            head.append(f"Content-Length: {len(data)}\r\n" if hasattr(data, "__len__")  # type: ignore[arg-type]
                        else "Transfer-Encoding: chunked\r\n")
        elif method in ("POST", "PUT", "PATCH"):
            head.append("Content-Length: 0\r\n")
        head.append("\r\n")
        wire = "".join(head).encode("latin-1")
        pool = self.idle.get((scheme, host, port))
        for attempt in (0, 1):
            reused = bool(pool)
            conn = pool.pop() if reused else self._connect(scheme, host, port, timeout, verify)
            try:
                conn.sock.settimeout(timeout)
                self._write(conn, wire, body, pieces, data)
                response = self._read_head(conn, method, url, headers)
            except TimeoutError as exc:
                conn.close()
                raise TransportTimeout(f"{method} {url}: no answer within {timeout}s") from exc
            except (OSError, TransportError) as exc:
                conn.close()
                # A pooled connection the server closed meanwhile: retry once on a new one (nothing was answered).
                if reused and attempt == 0 and (pieces is None or hasattr(data, "__getitem__")):
                    pool = None
                    continue
                if isinstance(exc, TransportError):
                    raise
                raise TransportError(f"{method} {url}: {exc}") from exc
            break
        self.in_flight = response
        return response

    def _write(self, conn: Connection, wire: bytes, body: bytes | None, pieces: Iterable | None,
               data: object) -> None:
        if body is not None:
            if len(body) <= 64 * 1024:
                conn.send(wire + body)
            else:
                conn.send(wire)
                conn.send(body)
            return
        conn.send(wire)
        if pieces is None:
            return
        chunked = not hasattr(data, "__len__")
        for piece in pieces:
            if not piece:
                continue
            if chunked:
                conn.send(f"{len(piece):x}\r\n".encode() + bytes(piece) + b"\r\n")
            else:
                conn.send(piece)
        if chunked:
            conn.send(b"0\r\n\r\n")

    def _read_head(self, conn: Connection, method: str, url: str, headers: dict[str, str]) -> FastResponse:
        buffer = conn.buffer
        first = not buffer
        while True:
            end = buffer.find(b"\r\n\r\n")
            if 0 <= end <= MAX_HEAD:
                break
            if len(buffer) > MAX_HEAD:
                raise TransportError(f"response head exceeds {MAX_HEAD} bytes")
            data = conn.recv(first)
            first = False
            if not data:
                raise TransportError("connection closed before a response arrived")
            buffer += data
        head = buffer[:end].decode("latin-1")
        conn.buffer = buffer[end + 4:]
        lines = head.split("\r\n")
        status_line = lines[0]
        if not status_line.startswith("HTTP/1.") or len(status_line) < 12:
            raise TransportError(f"not an HTTP/1.x status line: {status_line[:60]!r}")
        try:
            status = int(status_line[9:12])
        except ValueError:
            raise TransportError(f"unreadable status line {status_line[:60]!r}") from None
        if status == 100:  # Expect: 100-continue is never sent; skip a stray interim answer anyway
            return self._read_head(conn, method, url, headers)
        parsed = parse_headers(lines[1:])
        connection = parsed.get("connection")
        keep = status_line[5:8] == "1.1" and not (connection is not None and "close" in connection.lower())
        response = FastResponse(self, conn, SentRequest(method, url, headers), status, status_line[13:], parsed,
                                keep)
        response._frame(method)
        return response


def _body(data: object) -> tuple[bytes | None, Iterable | None]:
    """(bytes to send as is, or None) and (pieces to stream, or None) for a request body."""
    if data is None:
        return None, None
    if isinstance(data, bytes):
        return data, None
    if isinstance(data, bytearray | memoryview):
        return bytes(data), None
    if isinstance(data, str):
        return data.encode(), None
    return None, data  # type: ignore[return-value]

