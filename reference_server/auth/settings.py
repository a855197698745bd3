"""Auth settings of the reference server and their command-line options (``--auth``, ``--token-ttl``,
``--auth-failure-limit``, ``--auth-failure-window``, ``--password-threads``).

``--auth htpasswd:FILE``  Basic authentication against bcrypt entries; every user may do everything.
``--auth token[:FILE]``   Bearer tokens from the built-in endpoint ``/auth/token``; users and rules
                          from the access file (see ``access.py``); without a file anyone,
                          even anonymous, gets every right (the token flow without credentials).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from reference_server.auth.access import Policy, load_policy, open_policy
from reference_server.auth.passwords import (
    DEFAULT_CHECK_THREADS,
    DEFAULT_FAILURE_LIMIT,
    DEFAULT_FAILURE_WINDOW,
    FailureLimiter,
    PasswordChecker,
    PasswordFileError,
    read_htpasswd,
)
from reference_server.auth.tokens import TokenSigner

DEFAULT_SERVICE = "reference-registry"
DEFAULT_REALM = "reference-registry"
DEFAULT_TOKEN_TTL = 300.0
TOKEN_PATH = "/auth/token"
MODES = ("htpasswd", "token")


@dataclass
class AuthSettings:
    """How the server authenticates: mode, users, access policy and token parameters."""

    mode: str
    policy: Policy = field(default_factory=Policy)
    realm: str = DEFAULT_REALM
    service: str = DEFAULT_SERVICE
    token_ttl: float = DEFAULT_TOKEN_TTL
    token_realm: str | None = None  # absolute token URL; default: <scheme>://<Host>/auth/token
    signer: TokenSigner | None = None
    passwords: PasswordChecker | None = None
    failure_limit: int = DEFAULT_FAILURE_LIMIT  # failed logins per client address and window; 0: no limit
    failure_window: float = DEFAULT_FAILURE_WINDOW  # seconds
    password_threads: int = DEFAULT_CHECK_THREADS  # threads of the bcrypt pool

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise PasswordFileError(f"auth mode must be one of {', '.join(MODES)}")
        if self.passwords is None:
            limiter = FailureLimiter(self.failure_limit, self.failure_window)
            self.passwords = PasswordChecker(self.policy.users, threads=self.password_threads, limiter=limiter)
        if self.signer is None:
            self.signer = TokenSigner(self.service)


def parse_auth(spec: str, token_ttl: float = DEFAULT_TOKEN_TTL, **options: object) -> AuthSettings:
    """Settings from an ``--auth`` value: ``htpasswd:FILE``, ``token`` or ``token:ACCESSFILE``;
    ``options`` are further AuthSettings fields (failure limit and window, password threads)."""
    mode, _, path = (spec or "").partition(":")
    if mode == "htpasswd":
        if not path:
            raise PasswordFileError("--auth htpasswd needs a file: --auth htpasswd:FILE")
        return AuthSettings("htpasswd", Policy(users=read_htpasswd(path)), token_ttl=token_ttl, **options)
    if mode == "token":
        return AuthSettings("token", load_policy(path) if path else open_policy(), token_ttl=token_ttl, **options)
    raise PasswordFileError(f"--auth {spec!r}: use htpasswd:FILE, token or token:ACCESSFILE")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--auth`` and ``--token-ttl`` to the server's argument parser."""
    parser.add_argument("--auth", metavar="MODE", default=None,
                        help="htpasswd:FILE (Basic, bcrypt) or token[:ACCESSFILE] (Bearer tokens from /auth/token)")
    parser.add_argument("--token-ttl", metavar="SECONDS", type=float, default=DEFAULT_TOKEN_TTL,
                        help=f"lifetime of issued tokens (default {DEFAULT_TOKEN_TTL:g})")
    parser.add_argument("--auth-failure-limit", metavar="N", type=int, default=DEFAULT_FAILURE_LIMIT,
                        help="failed logins per client address and window before answering 429 "
                             f"(default {DEFAULT_FAILURE_LIMIT}; 0: no limit)")
    parser.add_argument("--auth-failure-window", metavar="SECONDS", type=float, default=DEFAULT_FAILURE_WINDOW,
                        help=f"window of --auth-failure-limit (default {DEFAULT_FAILURE_WINDOW:g})")
    parser.add_argument("--password-threads", metavar="N", type=int, default=DEFAULT_CHECK_THREADS,
                        help=f"threads checking passwords, apart from storage I/O (default {DEFAULT_CHECK_THREADS})")


def from_arguments(args: argparse.Namespace) -> AuthSettings | None:
    """AuthSettings from parsed arguments, or None when ``--auth`` was not given."""
    spec = getattr(args, "auth", None)
    if not spec:
        return None
    ttl = float(getattr(args, "token_ttl", DEFAULT_TOKEN_TTL) or DEFAULT_TOKEN_TTL)
    if ttl <= 0:
        raise PasswordFileError("--token-ttl must be positive")
    limit = int(getattr(args, "auth_failure_limit", DEFAULT_FAILURE_LIMIT))
    window = float(getattr(args, "auth_failure_window", DEFAULT_FAILURE_WINDOW))
    threads = int(getattr(args, "password_threads", DEFAULT_CHECK_THREADS))
    if limit < 0 or window <= 0 or threads < 1:
        raise PasswordFileError("--auth-failure-limit must be >= 0, --auth-failure-window and "
                                "--password-threads positive")
    return parse_auth(spec, token_ttl=ttl, failure_limit=limit, failure_window=window, password_threads=threads)
