"""Authentication for the reference server: htpasswd (Basic) and a built-in token service (Bearer).

``install(app, settings)`` adds the auth middleware (innermost, so fault-injecting middlewares
can rewrite its answers) to an application before it starts; in token mode that middleware also
serves ``/auth/token``. ``create_app`` calls it when ``config.auth`` is set.
"""

from __future__ import annotations

from aiohttp import web

from reference_server.auth.middleware import SUBJECT_KEY, build_middleware
from reference_server.auth.settings import TOKEN_PATH, AuthSettings, add_arguments, from_arguments, parse_auth

AUTH_KEY = web.AppKey("auth_settings", AuthSettings)

__all__ = ["AUTH_KEY", "SUBJECT_KEY", "TOKEN_PATH", "AuthSettings", "add_arguments", "from_arguments", "install",
           "parse_auth"]


def install(app: web.Application, settings: AuthSettings) -> None:
    """Guard ``app``'s ``/v2`` routes with ``settings`` (and serve the token endpoint in token mode)."""
    app[AUTH_KEY] = settings
    app.middlewares.append(build_middleware(settings))
