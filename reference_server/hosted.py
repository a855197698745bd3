"""Behaviours of hosted registries, switched on to test clients and suites against them.

``--redirect-blobs [HOST]``: blob GET/HEAD answers 307 to a second listener on another loopback
address (object storage or a CDN in front of a hosted registry) that serves the bytes at a
presigned URL (HMAC over repository, digest and expiry) and knows nothing of the registry's
credentials. ``--rate-limit N``: each client address may send N requests per second (bursts of N);
beyond that the answer is 429 TOOMANYREQUESTS with ``Retry-After``.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import socket
import time
from collections.abc import Iterable
from urllib.parse import urlencode

from aiohttp import web
from aiohttp.typedefs import Middleware

from reference_server import blobs, errors
from reference_server.auth import TOKEN_PATH
from reference_server.context import RegistryContext
from reference_server.routes import ROUTE_KEY

DEFAULT_BLOB_HOST = "127.0.0.2"
REDIRECT_TTL = 300  # seconds a presigned blob URL stays valid
MAX_CLIENTS = 10_000  # rate-limit buckets kept before the table is reset


class BlobHost:
    """The second listener of ``--redirect-blobs``: blob bytes at presigned URLs, no registry auth."""

    def __init__(self, host: str, ctx: RegistryContext, middlewares: Iterable[Middleware] = ()) -> None:
        self.host = host
        self.ctx = ctx
        self.key = secrets.token_bytes(32)
        self.url = ""
        self.app = web.Application(middlewares=list(middlewares))
        self.app.router.add_route("GET", "/blobs/{digest}", self.serve)
        self.app.router.add_route("HEAD", "/blobs/{digest}", self.serve)
        self.runner: web.AppRunner | None = None

    def _signature(self, repo: str, digest: str, expires: int) -> str:
        message = f"{repo}\n{digest}\n{expires}".encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()

    def location(self, repo: str, digest: str) -> str:
        """A presigned URL of ``digest`` as stored for ``repo``, valid for REDIRECT_TTL seconds."""
        expires = int(time.time()) + REDIRECT_TTL
        query = urlencode({"repo": repo, "expires": expires, "signature": self._signature(repo, digest, expires)})
        return f"{self.url}/blobs/{digest}?{query}"

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """GET/HEAD of a presigned URL: the blob (with Range) when the signature holds, else 403."""
        digest = request.match_info["digest"]
        repo = request.query.get("repo", "")
        try:
            expires = int(request.query.get("expires", ""))
        except ValueError:
            expires = 0
        wanted = self._signature(repo, digest, expires)
        if expires < time.time() or not hmac.compare_digest(wanted, request.query.get("signature", "")):
            raise errors.denied({"reason": "presigned URL invalid or expired"})
        return await blobs.get_blob(request, self.ctx, repo, digest)

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((self.host, 0))
        except OSError:
            self.host = "127.0.0.1"  # no second loopback address here: another port is another host too
            sock.bind((self.host, 0))
        self.runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self.runner.setup()
        await web.SockSite(self.runner, sock).start()
        self.url = f"http://{self.host}:{sock.getsockname()[1]}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


def redirect_middleware(host: BlobHost) -> Middleware:
    """Answer a blob GET/HEAD this repository holds with 307 to the blob host (after auth)."""

    @web.middleware
    async def middleware(request: web.Request, handler):
        route = request.get(ROUTE_KEY)
        if request.method in ("GET", "HEAD") and route is not None and route[3] is blobs.get_blob:
            params = route[2].params()  # (method, path, parsed path, handler), as shape_middleware keeps it
            name, digest = params["name"], params["digest"]
            if host.url and host.ctx.storage.repo_has_blob(name, digest):
                return web.Response(status=307, headers={"Location": host.location(name, digest),
                                                         "Docker-Content-Digest": digest})
        return await handler(request)

    return middleware


def rate_limit_middleware(per_second: float) -> Middleware:
    """At most ``per_second`` requests per second per client address (token bucket, burst of the
    same size) to the registry and its token endpoint; beyond: 429 TOOMANYREQUESTS + Retry-After."""
    burst = max(per_second, 1.0)
    buckets: dict[str, tuple[float, float]] = {}

    @web.middleware
    async def middleware(request: web.Request, handler):
        path = request.path
        if path == TOKEN_PATH or path == "/v2" or path.startswith("/v2/"):
            now = time.monotonic()
            client = request.remote or "?"
            tokens, last = buckets.get(client, (burst, now))
            tokens = min(burst, tokens + (now - last) * per_second)
            if tokens < 1.0:
                buckets[client] = (tokens, now)
                return errors.too_many_requests(max(1, math.ceil((1.0 - tokens) / per_second))).to_response()
            if len(buckets) >= MAX_CLIENTS:
                buckets.clear()
            buckets[client] = (tokens - 1.0, now)
        return await handler(request)

    return middleware
