"""Registry credentials from the files container tools keep, as those tools read them.

Sources, first match wins: the containers ``auth.json`` (``REGISTRY_AUTH_FILE``, else
``$XDG_RUNTIME_DIR/containers/auth.json``), then Docker's ``config.json`` (``$DOCKER_CONFIG``, else
``~/.docker/config.json``). In each file a ``credHelpers`` entry for the host runs
``docker-credential-<helper> get``; an ``auths`` entry gives base64 ``auth`` (``user:password``),
``username``/``password``, or an ``identitytoken`` (an OAuth2 refresh token); ``credsStore`` is the
helper for hosts without an entry. Secrets never appear in a repr or an error message.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

HELPER_PREFIX = "docker-credential-"
HELPER_TIMEOUT = 10.0
TOKEN_USERNAME = "<token>"  # a helper's Username when Secret is an identity token
MAX_FILE_BYTES = 1 << 20

Runner = Callable[..., subprocess.CompletedProcess]


class CredentialsError(ValueError):
    """A credentials file or helper that cannot be used; the message is one line, without secrets."""


@dataclass(frozen=True)
class Credentials:
    """A username with a password or an identity token, and where they were found (safe to print)."""

    username: str | None
    password: str | None = field(default=None, repr=False)
    identity_token: str | None = field(default=None, repr=False)
    source: str = ""


def auth_files(env: Mapping[str, str] | None = None) -> list[Path]:
    """The files to read, in the order container tools read them."""
    env = os.environ if env is None else env
    files = []
    if env.get("REGISTRY_AUTH_FILE"):
        files.append(Path(env["REGISTRY_AUTH_FILE"]))
    elif env.get("XDG_RUNTIME_DIR"):
        files.append(Path(env["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
    if env.get("DOCKER_CONFIG"):
        files.append(Path(env["DOCKER_CONFIG"]) / "config.json")
    elif env.get("HOME"):
        files.append(Path(env["HOME"]) / ".docker" / "config.json")
    return files


def _host_of(key: str) -> str:
    """``host[:port]`` of an ``auths`` key, which may be a bare host or a URL (``https://host/v1/``)."""
    text = key.strip()
    if "://" not in text:
        text = "//" + text
    return urlsplit(text).netloc.lower()


def _read(path: Path) -> dict | None:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CredentialsError(f"cannot read credentials file {path}: {exc.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise CredentialsError(f"credentials file {path} is larger than {MAX_FILE_BYTES} bytes")
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        raise CredentialsError(f"credentials file {path} is not valid JSON") from None
    if not isinstance(data, dict):
        raise CredentialsError(f"credentials file {path} does not hold a JSON object")
    return data


def _from_entry(entry: object, host: str, path: Path) -> Credentials | None:
    if not isinstance(entry, dict):
        return None
    token = entry.get("identitytoken")
    if entry.get("auth"):
        try:
            decoded = base64.b64decode(str(entry["auth"]), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise CredentialsError(f"{path}: the auth entry for {host} is not base64 'user:password'") from None
        user, sep, password = decoded.partition(":")
        if not sep:
            raise CredentialsError(f"{path}: the auth entry for {host} is not base64 'user:password'")
        return Credentials(user or None, password, token or None, str(path))
    if entry.get("username") or token:
        return Credentials(entry.get("username") or None, entry.get("password"), token or None, str(path))
    return None


def run_helper(helper: str, host: str, run: Runner = subprocess.run, path: str | None = None) -> Credentials | None:
    """``docker-credential-<helper> get`` for ``host`` (found on ``path``, default PATH); None when the
    helper knows no credentials."""
    program = HELPER_PREFIX + helper
    executable = shutil.which(program, path=path)
    if executable is None:
        raise CredentialsError(f"credential helper {program} is not on PATH")
    try:
        done = run([executable, "get"], input=host.encode(), capture_output=True, timeout=HELPER_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise CredentialsError(f"credential helper {program} did not answer within {HELPER_TIMEOUT:g} s") from None
    if done.returncode != 0:
        return None  # "credentials not found": the helper has nothing for this host
    try:
        answer = json.loads(done.stdout or b"{}")
    except ValueError:
        raise CredentialsError(f"credential helper {program} answered something other than JSON") from None
    if not isinstance(answer, dict) or not answer.get("Secret"):
        return None
    user = str(answer.get("Username") or "")
    if user == TOKEN_USERNAME:
        return Credentials(None, None, str(answer["Secret"]), program)
    return Credentials(user or None, str(answer["Secret"]), None, program)


def lookup(host: str, env: Mapping[str, str] | None = None, run: Runner = subprocess.run) -> Credentials | None:
    """Credentials for ``host`` (``host[:port]``) from the first file or helper that has them."""
    env = os.environ if env is None else env
    search = env.get("PATH") or os.defpath
    wanted = host.lower()
    for path in auth_files(env):
        data = _read(path)
        if data is None:
            continue
        helpers = data.get("credHelpers") if isinstance(data.get("credHelpers"), dict) else {}
        helper = next((str(h) for key, h in helpers.items() if _host_of(key) == wanted), None)
        if helper:
            found = run_helper(helper, host, run, search)
            if found is not None:
                return found
        auths = data.get("auths") if isinstance(data.get("auths"), dict) else {}
        for key, entry in auths.items():
            if _host_of(key) == wanted:
                found = _from_entry(entry, host, path)
                if found is not None:
                    return found
        store = data.get("credsStore")
        if store and shutil.which(HELPER_PREFIX + str(store), path=search):
            found = run_helper(str(store), host, run, search)
            if found is not None:
                return found
    return None
