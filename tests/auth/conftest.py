"""Fixtures of the auth tests: a test CA, users with random passwords, access files, and reference
servers in htpasswd and token mode over https on loopback ports."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reference_server.auth.passwords import hash_password
from reference_server.launcher import ServerProcess, start_server
from registry_harness.client import RegistryClient
from registry_harness.target import Target, parse_target
from tests.auth.pki import Pki, make_pki

BCRYPT_ROUNDS = 4  # the cheapest cost bcrypt allows: tests check logic, not hashing strength


@dataclass(frozen=True)
class Users:
    """Accounts of the test access policy, each with a random password.

    alice may do everything in ``team/*``, ``conformance-*`` and the catalog, and nothing in
    ``forbidden/*``; bob may pull ``team/*`` and push ``bob/*``; anyone may pull ``public/*``.
    """

    alice: str
    bob: str

    def password(self, user: str) -> str:
        return getattr(self, user)


def access_policy(users: Users, rounds: int = BCRYPT_ROUNDS) -> dict:
    """The access file content for ``users`` (see Users)."""
    return {
        "users": {"alice": hash_password(users.alice, rounds), "bob": hash_password(users.bob, rounds)},
        "access": [
            {"account": "alice", "name": "team/*", "actions": ["*"]},
            {"account": "alice", "name": "conformance-*", "actions": ["*"]},
            {"account": "alice", "name": "public/*", "actions": ["*"]},
            {"account": "alice", "type": "registry", "name": "catalog", "actions": ["*"]},
            {"account": "bob", "name": "team/*", "actions": ["pull"]},
            {"account": "bob", "name": "bob/*", "actions": ["pull", "push", "delete"]},
            {"account": "anonymous", "name": "public/*", "actions": ["pull"]},
        ],
    }


@pytest.fixture(scope="session")
def users() -> Users:
    return Users(alice="alice-" + secrets.token_urlsafe(16), bob="bob-" + secrets.token_urlsafe(16))


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def access_file(tmp_path_factory: pytest.TempPathFactory, users: Users) -> Path:
    path = tmp_path_factory.mktemp("access") / "access.json"
    path.write_text(json.dumps(access_policy(users)))
    return path


@pytest.fixture(scope="session")
def htpasswd_file(tmp_path_factory: pytest.TempPathFactory, users: Users) -> Path:
    """An htpasswd file as ``htpasswd -B`` writes it (``$2y$`` prefix) with alice and bob."""
    path = tmp_path_factory.mktemp("htpasswd") / "users.htpasswd"
    lines = [f"{user}:{hash_password(users.password(user), BCRYPT_ROUNDS).replace('$2b$', '$2y$', 1)}"
             for user in ("alice", "bob")]
    path.write_text("# registry users\n" + "\n".join(lines) + "\n")
    return path


def tls_args(pki: Pki) -> list[str]:
    return ["--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key)]


@pytest.fixture(scope="session")
def token_server(access_file: Path, pki: Pki) -> Iterator[ServerProcess]:
    """Token mode with the test access policy, over https."""
    with start_server(["--storage", "memory", "--auth", f"token:{access_file}", *tls_args(pki)]) as server:
        yield server


@pytest.fixture(scope="session")
def htpasswd_server(htpasswd_file: Path, pki: Pki) -> Iterator[ServerProcess]:
    """htpasswd (Basic) mode, over https."""
    with start_server(["--storage", "memory", "--auth", f"htpasswd:{htpasswd_file}", *tls_args(pki)]) as server:
        yield server


@pytest.fixture(scope="session")
def short_token_server(access_file: Path, pki: Pki) -> Iterator[ServerProcess]:
    """Token mode whose tokens live 2 seconds, over https."""
    args = ["--storage", "memory", "--auth", f"token:{access_file}", "--token-ttl", "2", *tls_args(pki)]
    with start_server(args) as server:
        yield server


@pytest.fixture
def client_for(pki: Pki, users: Users) -> Callable[..., RegistryClient]:
    """``client_for(server, user=None, password=None, tls="enabled")``: a RegistryClient trusting the test CA.

    ``user`` None is anonymous; the password defaults to the user's real one.
    """

    def make(server: ServerProcess, user: str | None = None, password: str | None = None,
             tls: str = "enabled", recorder=None) -> RegistryClient:
        target = https_target(server, pki, tls)
        secret = password if password is not None else (users.password(user) if user else "")
        return RegistryClient(target, recorder=recorder, username=user or "", password=secret)

    return make


def https_target(server: ServerProcess, pki: Pki, tls: str = "enabled") -> Target:
    """The server as a Target in TLS mode ``tls`` (the test CA as bundle when verifying)."""
    return parse_target(server.url, tls=tls, ca_bundle=str(pki.ca_cert) if tls == "enabled" else None)
