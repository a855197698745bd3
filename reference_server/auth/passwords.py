"""User passwords: bcrypt hashes from htpasswd files (as ``htpasswd -B`` writes them) and their check.

bcrypt is deliberately slow, so checks run in a small pool of their own (failed logins cannot take
the threads storage I/O runs on), at most ``max_pending`` at a time; successful ones are remembered
(keyed by an HMAC of user and password under a per-process key, never the password itself). An
unknown user costs one bcrypt check against a dummy hash of the users' cost, like a wrong password,
so answer times do not tell which user names exist. Repeated failures from one client address are
answered 429 for the rest of a window (``FailureLimiter``, bounded memory).
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import hmac
import ipaddress
import math
import re
import secrets
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import bcrypt

BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
MAX_REMEMBERED = 1024
DEFAULT_COST = 10  # the cost of the dummy hash when there are no users to copy it from
DEFAULT_CHECK_THREADS = 1  # one core at most for bcrypt, whatever the number of clients guessing
DEFAULT_MAX_PENDING = 64  # password checks queued or running; more are answered 429 at once
DEFAULT_FAILURE_LIMIT = 20  # failed logins per client address and window (0: no limit)
DEFAULT_FAILURE_WINDOW = 60.0
MAX_TRACKED_CLIENTS = 4096
_COST_RE = re.compile(r"^\$2[aby]\$(\d\d)\$")


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


class TooManyAttempts(Exception):
    """A client has failed too often (or too many checks are queued): answer 429 with ``Retry-After``."""

    def __init__(self, retry_after: int, reason: str) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.reason = reason


def client_key(address: str | None) -> str:
    """The key failures are counted under: the peer address, an IPv6 address by its /64 network."""
    if not address:
        return "?"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


class FailureLimiter:
    """Counts failed logins per client in fixed windows; a client at ``limit`` failures waits for the
    end of its window. At most ``max_clients`` are tracked (the least recently failing are forgotten)."""

    def __init__(self, limit: int = DEFAULT_FAILURE_LIMIT, window: float = DEFAULT_FAILURE_WINDOW,
                 max_clients: int = MAX_TRACKED_CLIENTS, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.max_clients = max_clients
        self._clock = clock
        self._failures: collections.OrderedDict[str, tuple[int, float]] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._failures)

    def _current(self, client: str, now: float) -> tuple[int, float] | None:
        entry = self._failures.get(client)
        if entry is not None and now - entry[1] >= self.window:
            del self._failures[client]
            return None
        return entry

    def retry_after(self, client: str) -> int | None:
        """Seconds the client must wait before its next attempt, or None when it may try now."""
        if self.limit <= 0:
            return None
        now = self._clock()
        entry = self._current(client, now)
        if entry is None or entry[0] < self.limit:
            return None
        return max(1, math.ceil(entry[1] + self.window - now))

    def failed(self, client: str) -> None:
        """Count one failed login of ``client``."""
        if self.limit <= 0:
            return
        now = self._clock()
        entry = self._current(client, now)
        self._failures[client] = (1, now) if entry is None else (entry[0] + 1, entry[1])
        self._failures.move_to_end(client)
        while len(self._failures) > self.max_clients:
            self._failures.popitem(last=False)

    def succeeded(self, client: str) -> None:
        """A successful login clears the client's count."""
        self._failures.pop(client, None)


def bcrypt_cost(hashed: str) -> int | None:
    """The cost factor of a bcrypt hash (``$2b$10$…`` -> 10), or None when it is not one."""
    match = _COST_RE.match(hashed)
    return int(match.group(1)) if match else None


def common_cost(hashes: Iterable[str], default: int = DEFAULT_COST) -> int:
    """The most common cost among ``hashes`` (the higher one on a tie), ``default`` without any."""
    counts = collections.Counter(c for c in map(bcrypt_cost, hashes) if c is not None)
    if not counts:
        return default
    return max(counts, key=lambda cost: (counts[cost], cost))


class PasswordChecker:
    """Checks user/password pairs against bcrypt hashes in a pool of its own, remembering successful
    checks; ``verify`` adds the per-client failure limit."""

    def __init__(self, users: dict[str, str], *, threads: int = DEFAULT_CHECK_THREADS,
                 max_pending: int = DEFAULT_MAX_PENDING, limiter: FailureLimiter | None = None) -> None:
        self.users = dict(users)
        self._key = secrets.token_bytes(32)
        self._good: set[bytes] = set()
        self.dummy_hash = bcrypt.hashpw(secrets.token_bytes(16).hex().encode(),
                                        bcrypt.gensalt(common_cost(self.users.values()))).decode()
        self.bcrypt_runs = 0  # bcrypt computations done, for tests and figures
        self.max_pending = max_pending
        self.limiter = limiter if limiter is not None else FailureLimiter()
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None  # started on first use (after any fork)
        self._pending = 0

    def _fingerprint(self, user: str, password: str) -> bytes:
        return hmac.new(self._key, f"{user}\0{password}".encode(), hashlib.sha256).digest()

    def hash_for(self, user: str) -> str:
        """The hash ``user``'s password is checked against: theirs, or the dummy for unknown users."""
        return self.users.get(user, self.dummy_hash)

    def check_sync(self, user: str, password: str) -> bool:
        """True when ``user`` exists and ``password`` matches its hash (one bcrypt run either way)."""
        known = user in self.users
        fingerprint = self._fingerprint(user, password)
        if known and fingerprint in self._good:
            return True
        self.bcrypt_runs += 1
        try:
            ok = bcrypt.checkpw(password.encode(), self.hash_for(user).encode())
        except ValueError:
            return False
        ok = ok and known
        if ok:
            if len(self._good) >= MAX_REMEMBERED:
                self._good.clear()
            self._good.add(fingerprint)
        return ok

    async def check(self, user: str, password: str) -> bool:
        """``check_sync`` in the password pool, without blocking the event loop; raises
        TooManyAttempts when ``max_pending`` checks are already queued or running."""
        if user in self.users and self._fingerprint(user, password) in self._good:
            return True
        if self._pending >= self.max_pending:
            raise TooManyAttempts(1, "too many password checks in progress")
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="password-check")
        self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, self.check_sync, user, password)
        finally:
            self._pending -= 1

    async def verify(self, address: str | None, user: str, password: str) -> bool:
        """``check`` for a client at ``address`` (the peer address): raises TooManyAttempts while the
        client is over its failure limit, counts its failures and clears them on success."""
        client = client_key(address)
        wait = self.limiter.retry_after(client)
        if wait is not None:
            raise TooManyAttempts(wait, "too many failed logins from this address")
        ok = await self.check(user, password)
        if ok:
            self.limiter.succeeded(client)
        else:
            self.limiter.failed(client)
        return ok
