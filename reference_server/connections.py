"""Connections of the reference server: a cap, an idle keep-alive timeout, a header-read timeout,
graceful behaviour at the open-file limit, and one-line logs of malformed HTTP.

``serve_app(app, sock, limits)`` starts an aiohttp runner whose connections go through a
``ConnectionGuard``. At the cap (by default a reserve below the open-file limit, so accepted
sockets, storage files and logs always find a descriptor) the least recently used idle connection
is closed to admit the new one; when every connection is busy the newcomer is answered 503
UNAVAILABLE. A request head must arrive within ``header_timeout`` of its first byte (slowloris);
a connection waiting for a request is closed after ``keepalive_timeout``. Should ``accept`` still
run out of descriptors, idle connections are closed and one line is logged (at most every
``WARN_INTERVAL`` seconds) instead of a traceback per attempt. Malformed HTTP is answered 400
with a spec error body and logged in one line naming the peer and the kind of error, never the
bytes received (they may be an ``Authorization`` header).
"""

from __future__ import annotations

import asyncio
import collections
import errno
import logging
import resource
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from reference_server import errors
from registry_harness.spec import API_VERSION, API_VERSION_HEADER

log = logging.getLogger("reference_server.connections")

DEFAULT_KEEPALIVE_TIMEOUT = 30.0
DEFAULT_HEADER_TIMEOUT = 10.0
WARN_INTERVAL = 10.0
OUT_OF_DESCRIPTORS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


@dataclass(frozen=True)
class ConnectionLimits:
    """How many connections the server keeps and how long it waits on them."""

    max_connections: int | None = None  # None: the open-file limit less a reserve (default_max_connections)
    keepalive_timeout: float = DEFAULT_KEEPALIVE_TIMEOUT  # seconds a connection may wait for its next request
    header_timeout: float = DEFAULT_HEADER_TIMEOUT  # seconds from a request's first byte to its complete head


def open_file_limit() -> int:
    """The process's soft limit of open files (65536 when unlimited)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 65536 if soft == resource.RLIM_INFINITY or soft <= 0 else soft


def default_max_connections() -> int:
    """The open-file limit less a reserve: an eighth of it, at least 256 (half of a small limit)."""
    soft = open_file_limit()
    reserve = max(min(256, soft // 2), soft // 8)
    return max(1, soft - reserve)


def accept_burst(max_connections: int) -> int:
    """How many connections to accept in one go (the listen backlog, which asyncio also takes as
    the number of accepts per loop iteration): half the descriptors the cap leaves free, 8 to 128,
    so a burst of accepts ahead of the cap's evictions stays within the open-file limit."""
    return max(8, min(128, (open_file_limit() - max_connections) // 2))


def _rejection() -> bytes:
    """The whole HTTP answer to a connection over the cap while every other one is busy."""
    body = errors.unavailable({"reason": "too many connections"}).body()
    head = ("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n"
            f"{API_VERSION_HEADER}: {API_VERSION}\r\n\r\n")
    return head.encode() + body


class GuardedHandler(RequestHandler):
    """aiohttp's connection handler, admitted by a ConnectionGuard, with a header-read timeout
    and spec answers (one log line) for malformed HTTP."""

    def __init__(self, manager: web.Server, *, guard: ConnectionGuard, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._guard = guard
        self._admitted = False
        self._head_timer: asyncio.TimerHandle | None = None

    # -- admission and tracking
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self._guard.admit(self):
            transport.write(_rejection())  # type: ignore[attr-defined]
            transport.close()
            return
        self._admitted = True
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self._admitted:
            return
        self._admitted = False
        self._cancel_head_timer()
        self._guard.release(self)
        super().connection_lost(exc)

    def is_idle(self) -> bool:
        """No request being handled or queued (a partial request head counts as idle)."""
        return not self._request_in_progress and not self._messages

    def close_idle(self) -> None:
        """Close this connection because the server needs its descriptor."""
        self.force_close()

    # -- header-read timeout
    def data_received(self, data: bytes) -> None:
        if data and self._head_timer is None and self.is_idle():
            self._head_timer = self._loop.call_later(self._guard.limits.header_timeout, self._head_expired)
        super().data_received(data)
        if self._head_timer is not None and self._messages:
            self._cancel_head_timer()
            self._guard.touch(self)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_expired(self) -> None:
        self._head_timer = None
        if self._waiter is not None and not self._waiter.done():  # still waiting for a complete head
            log.info("closed a connection from %s: no complete request head within %gs",
                     self._peer(), self._guard.limits.header_timeout)
            self.force_close()

    def _peer(self) -> str:
        peer = self.transport.get_extra_info("peername") if self.transport is not None else None
        return str(peer[0]) if peer else "?"

    # -- malformed HTTP
    def handle_error(self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        log.info("malformed HTTP request from %s: %s (answered %d)", request.remote, type(exc).__name__, status)
        response = errors.RegistryError("UNSUPPORTED", "malformed HTTP request",
                                        {"reason": type(exc).__name__}, status=status).to_response()
        response.headers[API_VERSION_HEADER] = API_VERSION
        response.force_close()
        return response


class ConnectionGuard:
    """The protocol factory of the listening socket: builds GuardedHandlers and keeps the open ones
    in least-recently-used order, within the cap."""

    def __init__(self, server: web.Server, limits: ConnectionLimits, handler_kwargs: dict[str, Any]) -> None:
        self.server = server
        self.limits = limits
        self.max_connections = limits.max_connections or default_max_connections()
        self._handler_kwargs = handler_kwargs
        self._open: collections.OrderedDict[GuardedHandler, None] = collections.OrderedDict()
        self.evicted = 0
        self.rejected = 0
        self._last_warning = float("-inf")
        self._unwarned = 0

    def __call__(self) -> GuardedHandler:
        return GuardedHandler(self.server, guard=self, loop=asyncio.get_running_loop(), **self._handler_kwargs)

    def admit(self, handler: GuardedHandler) -> bool:
        """Track a new connection, closing the least recently used idle one at the cap."""
        if len(self._open) >= self.max_connections and not self.evict_idle(1):
            self.rejected += 1
            self._warn(f"{len(self._open)} connections open, all busy: answering new ones 503")
            return False
        self._open[handler] = None
        return True

    def release(self, handler: GuardedHandler) -> None:
        self._open.pop(handler, None)

    def touch(self, handler: GuardedHandler) -> None:
        """A request arrived on ``handler``: it becomes the most recently used."""
        if handler in self._open:
            self._open.move_to_end(handler)

    def evict_idle(self, count: int) -> int:
        """Close up to ``count`` idle connections, least recently used first; return how many."""
        victims = []
        for handler in self._open:
            if len(victims) >= count:
                break
            if handler.is_idle():
                victims.append(handler)
        for handler in victims:
            self._open.pop(handler, None)
            handler.close_idle()
        self.evicted += len(victims)
        return len(victims)

    def loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """The event loop's exception handler: out-of-descriptor accept errors close idle
        connections and log one line; everything else goes to the default handler."""
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in OUT_OF_DESCRIPTORS:
            closed = self.evict_idle(max(16, len(self._open) // 8))
            self._warn(f"out of file descriptors ({exc.strerror}) with {len(self._open)} connections open: "
                       f"closed {closed} idle ones; accepting again shortly")
            return
        loop.default_exception_handler(context)

    def _warn(self, text: str) -> None:
        now = time.monotonic()
        if now - self._last_warning < WARN_INTERVAL:
            self._unwarned += 1
            return
        suffix = f" ({self._unwarned} more like this since the last report)" if self._unwarned else ""
        log.warning("%s%s", text, suffix)
        self._last_warning, self._unwarned = now, 0


class GuardedSite(web.SockSite):
    """A SockSite whose connections go through ``guard`` (TLS handshakes bounded by the header timeout)."""

    def __init__(self, runner: web.BaseRunner, sock: socket.socket, guard: ConnectionGuard, *,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        super().__init__(runner, sock, ssl_context=ssl_context)
        self.guard = guard

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        timeout = self.guard.limits.header_timeout if self._ssl_context else None
        self._server = await loop.create_server(self.guard, sock=self._sock, ssl=self._ssl_context,
                                                backlog=accept_burst(self.guard.max_connections),
                                                ssl_handshake_timeout=timeout)


async def serve_app(app: web.Application, sock: socket.socket, limits: ConnectionLimits | None = None, *,
                    ssl_context: ssl.SSLContext | None = None,
                    access_log: logging.Logger | None = None) -> tuple[web.AppRunner, ConnectionGuard]:
    """Serve ``app`` on the bound socket ``sock`` within ``limits``; the caller cleans the runner up."""
    limits = limits or ConnectionLimits()
    runner = web.AppRunner(app, handle_signals=False, keepalive_timeout=limits.keepalive_timeout,
                           access_log=access_log)
    await runner.setup()
    assert runner.server is not None
    # The handler arguments aiohttp itself would pass: the runner's plus the app's handler_args.
    handler_kwargs = dict(getattr(runner.server, "_kwargs", {}))
    guard = ConnectionGuard(runner.server, limits, handler_kwargs)
    await GuardedSite(runner, sock, guard, ssl_context=ssl_context).start()
    asyncio.get_running_loop().set_exception_handler(guard.loop_exception)
    return runner, guard
