"""The app factory: ``create_app(config, storage=None, middlewares=())``.

Every response carries ``Docker-Distribution-API-Version: registry/2.0``; spec errors raised by
handlers become their JSON bodies; anything unexpected becomes 500 UNKNOWN without a traceback
in the body (the traceback goes to the log).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
from collections.abc import Iterable

from aiohttp import web
from aiohttp.typedefs import Middleware

from reference_server import errors, hosted, uploads
from reference_server.auth import install as install_auth
from reference_server.config import ServerConfig
from reference_server.context import CONTEXT_KEY, RegistryContext
from reference_server.routes import dispatch, shape_middleware
from reference_server.storage import FilesystemStorage, MemoryStorage, Storage
from registry_harness.spec import API_VERSION, API_VERSION_HEADER

log = logging.getLogger("reference_server")

STORAGE_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})  # the disk, not the request, is at fault
IDENTITY = frozenset({"", "identity"})


@web.middleware
async def encoding_middleware(request: web.Request, handler) -> web.StreamResponse:
    """Refuse registry request bodies sent with a Content-Encoding (415 UNSUPPORTED): the server
    stores exactly the bytes it receives and never inflates them. Auto-decompression is off for
    the whole app, so any other endpoint reading a body sees the bytes as sent."""
    encoding = request.headers.get("Content-Encoding")
    if (encoding is not None and encoding.strip().lower() not in IDENTITY and request.body_exists
            and request.path.startswith("/v2")):
        raise errors.unsupported({"content_encoding": encoding[:64], "reason": "request bodies are taken "
                                  "as sent: only Content-Encoding identity is accepted"},
                                 status=415, headers={"Accept-Encoding": "identity"})
    return await handler(request)


@web.middleware
async def error_middleware(request: web.Request, handler) -> web.StreamResponse:
    """Turn RegistryError into its spec body, and any other failure into 500 UNKNOWN."""
    try:
        return await handler(request)
    except errors.RegistryError as exc:
        return exc.to_response()
    except web.HTTPException as exc:
        if exc.status == 404:
            return errors.unsupported({"path": request.path[:200]}, status=404).to_response()
        if exc.status == 405:
            return errors.unsupported({"method": request.method}).to_response()
        if exc.status == 413:
            return errors.size_invalid({"reason": "request body too large"}).to_response()
        raise
    except ConnectionError as exc:
        log.info("client went away during %s %s: %r", request.method, request.path, exc)
        return errors.size_invalid({"reason": "connection lost"}).to_response()
    except OSError as exc:
        if exc.errno not in STORAGE_FULL:
            log.exception("unexpected error on %s %s", request.method, request.path)
            return errors.unknown_error().to_response()
        reason = os.strerror(exc.errno).lower()
        log.error("cannot store %s %s: %s", request.method, request.path[:200], reason)
        return errors.insufficient_storage(reason).to_response()
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return errors.unknown_error().to_response()


async def _add_version_header(request: web.Request, response: web.StreamResponse) -> None:
    response.headers[API_VERSION_HEADER] = API_VERSION


def make_storage(config: ServerConfig) -> Storage:
    """The storage backend the configuration names."""
    if config.storage == "memory":
        return MemoryStorage()
    if config.storage == "filesystem":
        return FilesystemStorage(config.root)
    raise ValueError(f"unknown storage {config.storage!r}")


async def _expiry_loop(ctx: RegistryContext) -> None:
    interval = max(0.5, min(ctx.config.upload_ttl / 2, 60.0))
    while True:
        await asyncio.sleep(interval)
        try:
            await uploads.expire_sessions(ctx)
        except Exception:  # noqa: BLE001 - a failed sweep must not stop the next one
            log.exception("upload expiry sweep failed")


def create_app(config: ServerConfig, storage: Storage | None = None,
               middlewares: Iterable[Middleware] = ()) -> web.Application:
    """Build the registry application; extra ``middlewares`` (auth, fault injection) run inside
    the error middleware, so a RegistryError they raise is rendered like any other."""
    ctx = RegistryContext(config=config, storage=storage if storage is not None else make_storage(config))
    limits = [hosted.rate_limit_middleware(config.rate_limit)] if config.rate_limit else []
    # auto_decompress off: a compressed body must never be inflated (it is refused, see above).
    app = web.Application(middlewares=[error_middleware, encoding_middleware, *middlewares, *limits,
                                       shape_middleware],
                          client_max_size=1 << 30, handler_args={"auto_decompress": False})
    app[CONTEXT_KEY] = ctx
    if config.auth is not None:
        install_auth(app, config.auth)  # innermost: fault-injecting middlewares see its answers
    if config.redirect_blobs:
        # after auth: only a client allowed to read the blob is sent its presigned URL
        blob_host = hosted.BlobHost(config.redirect_blobs, ctx, [error_middleware, *middlewares])
        app.middlewares.append(hosted.redirect_middleware(blob_host))

        async def second_listener(app: web.Application):
            await blob_host.start()
            yield
            await blob_host.stop()

        app.cleanup_ctx.append(second_listener)
    app.router.add_route("*", "/{tail:.*}", dispatch)
    app.on_response_prepare.append(_add_version_header)

    async def sweeper(app: web.Application):
        for info in await asyncio.to_thread(ctx.storage.uploads):  # sessions from before a restart
            ctx.sessions.add(info)
        task = asyncio.create_task(_expiry_loop(ctx))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(sweeper)
    return app
