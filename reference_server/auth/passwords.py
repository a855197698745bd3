"""User passwords: bcrypt hashes from htpasswd files (as ``htpasswd -B`` writes them) and their check.

bcrypt is deliberately slow, so checks run in a worker thread and successful ones are remembered
(keyed by an HMAC of user and password under a per-process key, never the password itself).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from pathlib import Path

import bcrypt

BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
MAX_REMEMBERED = 1024


class PasswordFileError(ValueError):
    """An htpasswd or access file that cannot be used."""


def read_htpasswd(path: str | Path) -> dict[str, str]:
    """``user -> bcrypt hash`` from an htpasswd file; blank lines and ``#`` comments are skipped.

    Only bcrypt entries are accepted (as Distribution does); any other hash is an error, so a
    misconfigured file fails at start-up rather than locking everyone out silently.
    """
    users: dict[str, str] = {}
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise PasswordFileError(f"cannot read htpasswd file {path}: {exc.strerror}") from exc
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not user:
            raise PasswordFileError(f"{path}:{number}: expected user:hash")
        if not hashed.startswith(BCRYPT_PREFIXES):
            raise PasswordFileError(f"{path}:{number}: only bcrypt entries (htpasswd -B) are supported")
        users[user] = hashed
    return users


def hash_password(password: str, rounds: int = 10) -> str:
    """A bcrypt hash in htpasswd's form, for writing access and htpasswd files."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


class PasswordChecker:
    """Checks user/password pairs against bcrypt hashes, remembering successful checks."""

    def __init__(self, users: dict[str, str]) -> None:
        self.users = dict(users)
        self._key = secrets.token_bytes(32)
        self._good: set[bytes] = set()

    def _fingerprint(self, user: str, password: str) -> bytes:
        return hmac.new(self._key, f"{user}\0{password}".encode(), hashlib.sha256).digest()

    def check_sync(self, user: str, password: str) -> bool:
        """True when ``user`` exists and ``password`` matches its hash."""
        hashed = self.users.get(user)
        if hashed is None:
            return False
        fingerprint = self._fingerprint(user, password)
        if fingerprint in self._good:
            return True
        try:
            ok = bcrypt.checkpw(password.encode(), hashed.encode())
        except ValueError:
            return False
        if ok:
            if len(self._good) >= MAX_REMEMBERED:
                self._good.clear()
            self._good.add(fingerprint)
        return ok

    async def check(self, user: str, password: str) -> bool:
        """``check_sync`` without blocking the event loop on a bcrypt computation."""
        if user in self.users and self._fingerprint(user, password) in self._good:
            return True
        return await asyncio.get_running_loop().run_in_executor(None, self.check_sync, user, password)
