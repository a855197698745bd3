"""Deliberately broken registries: the reference server with one rule broken at a time.

Each variant names the checks it must make fail. ``tests/test_truthfulness.py`` starts every
variant on a loopback port, runs just those checks against it, and asserts that they fail
while the same checks pass against the correct server. Variants live in one module per area.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from reference_server.errors import RegistryError

Middleware = Callable[..., object]


@dataclass(frozen=True)
class Variant:
    """One broken registry: how it is broken and which checks must catch it.

    ``select`` is the pytest ``-k`` expression of the checks to run against it; every check in
    ``must_fail`` (substrings of test node ids) must end as a failure. Build the breakage with
    an aiohttp ``middleware`` around the reference app and/or extra ``server_args`` (switches).
    ``strict`` runs the suite with ``--strict``, so a SHOULD that is not met fails instead of
    warning (how SHOULD-level checks are shown to catch their variant); ``env`` adds environment
    variables for the suite (credentials such as ``OCI_USERNAME``/``OCI_PASSWORD``); ``args`` adds
    suite options (such as ``--judge oci``); ``peers`` names the real clients its checks drive
    (``docker`` = a private Docker engine, ``skopeo``, ``podman``, ``oras``), required for the run like
    any peer (a skip, or a failure under REQUIRE_PEERS).
    """

    name: str
    description: str
    select: str
    must_fail: tuple[str, ...]
    middleware: Middleware | None = None
    server_args: tuple[str, ...] = field(default=())
    strict: bool = False
    env: tuple[tuple[str, str], ...] = field(default=())
    args: tuple[str, ...] = field(default=())
    peers: tuple[str, ...] = field(default=())


def rewrite(match: Callable[[web.Request], bool], change: Callable[[web.Request, web.StreamResponse], object]):
    """A middleware factory: call ``change(request, response)`` on responses to matching requests.

    ``change`` may mutate the response and return None, or return a replacement response.
    """

    @web.middleware
    async def middleware(request: web.Request, handler):
        response = await handler(request)
        if match(request):
            replaced = change(request, response)
            if replaced is not None:
                return replaced
        return response

    return middleware


def on_error(change: Callable[[web.Request, RegistryError], web.StreamResponse | None]):
    """A middleware made of ``change(request, error)``, called when the registry answers with a spec error.

    ``change`` may return a replacement response, raise another exception in its place (another
    spec error, or a crash), or return None to let the error through unchanged. Use it as a
    decorator on the change function; the counterpart of ``rewrite`` for error answers.
    """

    @web.middleware
    async def middleware(request: web.Request, handler):
        try:
            return await handler(request)
        except RegistryError as exc:
            replaced = change(request, exc)
            if replaced is None:
                raise
            return replaced

    middleware.__doc__ = change.__doc__
    return middleware
