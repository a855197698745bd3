"""Auth settings of the reference server and the ``--auth`` / ``--token-ttl`` command-line options.

``--auth htpasswd:FILE``  Basic authentication against bcrypt entries; every user may do everything.
``--auth token[:FILE]``   Bearer tokens from the built-in endpoint ``/auth/token``; users and rules
                          from the access file (see ``access.py``); without a file anyone,
                          even anonymous, gets every right (the token flow without credentials).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from reference_server.auth.access import Policy, load_policy, open_policy
from reference_server.auth.passwords import PasswordChecker, PasswordFileError, read_htpasswd
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

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise PasswordFileError(f"auth mode must be one of {', '.join(MODES)}")
        if self.passwords is None:
            self.passwords = PasswordChecker(self.policy.users)
        if self.signer is None:
            self.signer = TokenSigner(self.service)


def parse_auth(spec: str, token_ttl: float = DEFAULT_TOKEN_TTL) -> AuthSettings:
    """Settings from an ``--auth`` value: ``htpasswd:FILE``, ``token`` or ``token:ACCESSFILE``."""
    mode, _, path = (spec or "").partition(":")
    if mode == "htpasswd":
        if not path:
            raise PasswordFileError("--auth htpasswd needs a file: --auth htpasswd:FILE")
        return AuthSettings("htpasswd", Policy(users=read_htpasswd(path)), token_ttl=token_ttl)
    if mode == "token":
        return AuthSettings("token", load_policy(path) if path else open_policy(), token_ttl=token_ttl)
    raise PasswordFileError(f"--auth {spec!r}: use htpasswd:FILE, token or token:ACCESSFILE")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--auth`` and ``--token-ttl`` to the server's argument parser."""
    parser.add_argument("--auth", metavar="MODE", default=None,
                        help="htpasswd:FILE (Basic, bcrypt) or token[:ACCESSFILE] (Bearer tokens from /auth/token)")
    parser.add_argument("--token-ttl", metavar="SECONDS", type=float, default=DEFAULT_TOKEN_TTL,
                        help=f"lifetime of issued tokens (default {DEFAULT_TOKEN_TTL:g})")


def from_arguments(args: argparse.Namespace) -> AuthSettings | None:
    """AuthSettings from parsed arguments, or None when ``--auth`` was not given."""
    spec = getattr(args, "auth", None)
    if not spec:
        return None
    ttl = float(getattr(args, "token_ttl", DEFAULT_TOKEN_TTL) or DEFAULT_TOKEN_TTL)
    if ttl <= 0:
        raise PasswordFileError("--token-ttl must be positive")
    return parse_auth(spec, token_ttl=ttl)
