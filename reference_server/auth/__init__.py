"""Authentication for the reference server: htpasswd (Basic) and a built-in token service (Bearer).

``install(app, settings)`` adds the auth middleware (and, in token mode, the ``/auth/token``
routes) to an application before it starts; ``create_app`` calls it when ``config.auth`` is set.
"""

from __future__ import annotations

from aiohttp import web

from reference_server.auth.endpoint import make_handlers
from reference_server.auth.middleware import build_middleware
from reference_server.auth.settings import TOKEN_PATH, AuthSettings, add_arguments, from_arguments, parse_auth

AUTH_KEY = web.AppKey("auth_settings", AuthSettings)

__all__ = ["AUTH_KEY", "AuthSettings", "TOKEN_PATH", "add_arguments", "from_arguments", "install", "parse_auth"]


def install(app: web.Application, settings: AuthSettings) -> None:
    """Guard ``app``'s ``/v2`` routes with ``settings`` and serve the token endpoint in token mode."""
    app[AUTH_KEY] = settings
    if settings.mode == "token":
        get_token, post_token = make_handlers(settings)
        app.router.add_get(TOKEN_PATH, get_token)
        app.router.add_post(TOKEN_PATH, post_token)
    app.middlewares.append(build_middleware(settings))
