"""Per-application state shared by the handlers, and input validation done before any disk access."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from aiohttp import web

from reference_server import errors
from reference_server.config import ServerConfig
from reference_server.sessions import UploadLedger
from reference_server.storage.base import Storage
from registry_harness import schema1
from registry_harness.digests import DigestError, parse_digest
from registry_harness.spec import NAME_MAX_LENGTH, valid_name, valid_tag

UPLOAD_ID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Set by an auth middleware: may this request read the named repository? (absent = no auth, yes)
CAN_READ_KEY = web.RequestKey("can_read", Callable[[str], bool])
# Set by an auth middleware: may this caller see the named repository in _catalog? (absent = yes)
CAN_LIST_KEY = web.RequestKey("can_list", Callable[[str], bool])


@dataclass
class HashState:
    """A running hash of an upload and how many bytes it has absorbed."""

    hasher: hashlib._Hash
    offset: int


@dataclass
class _KeyLock:
    """A lock and how many tasks hold or await it."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


@dataclass
class RegistryContext:
    """Configuration, storage and in-process coordination (locks, running upload hashes)."""

    config: ServerConfig
    storage: Storage
    signing_key: object = field(default_factory=schema1.generate_key)
    hashes: dict[str, HashState] = field(default_factory=dict)
    sessions: UploadLedger = field(default_factory=UploadLedger)
    _locks: dict[str, _KeyLock] = field(default_factory=dict)

    @contextlib.asynccontextmanager
    async def locked(self, key: str) -> AsyncIterator[None]:
        """Hold the lock serialising mutations of one repository or one upload session; the lock
        is forgotten as soon as nobody holds or awaits it, so deleted names leave nothing behind."""
        entry = self._locks.get(key)
        if entry is None:
            entry = self._locks[key] = _KeyLock()
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0 and self._locks.get(key) is entry:
                del self._locks[key]

    def busy(self, key: str) -> bool:
        """True while someone holds or awaits the lock of ``key`` (never creates one)."""
        return key in self._locks

    def can_read(self, request: web.Request, repo: str) -> bool:
        """Whether this request may read ``repo``; an auth middleware may set ``request[CAN_READ_KEY]``
        to a callable taking a repository name (used for mounts with ``from``)."""
        check = request.get(CAN_READ_KEY)
        return True if check is None else bool(check(repo))

    def listable(self, request: web.Request, repositories: list[str]) -> list[str]:
        """The repositories this request may see in ``_catalog`` (all of them without auth)."""
        check = request.get(CAN_LIST_KEY)
        return repositories if check is None else [repo for repo in repositories if check(repo)]


CONTEXT_KEY = web.AppKey("registry_context", RegistryContext)


def require_name(name: str) -> str:
    """Return ``name`` or raise NAME_INVALID (grammar, length, NUL, '..', uppercase...)."""
    if len(name) > NAME_MAX_LENGTH:
        raise errors.name_invalid(name[:64] + "...", f"longer than {NAME_MAX_LENGTH} characters")
    if not _valid_name(name):
        raise errors.name_invalid(name, "does not match the repository name grammar")
    return name


@functools.lru_cache(maxsize=4096)
def _valid_name(name: str) -> bool:
    """``valid_name``, remembered: every request names a repository, and few names recur a lot."""
    return valid_name(name)


def require_tag(tag: str) -> str:
    """Return ``tag`` or raise TAG_INVALID."""
    if not valid_tag(tag):
        raise errors.tag_invalid(tag[:200], "does not match the tag grammar")
    return tag


def require_digest(text: str) -> str:
    """Return the canonical digest string or raise DIGEST_INVALID (grammar, algorithm, hex length)."""
    try:
        return str(parse_digest(text))
    except DigestError as exc:
        raise errors.digest_invalid({"digest": text[:200], "reason": str(exc)}) from None


def is_digest_reference(reference: str) -> bool:
    """True when a manifest reference is a digest rather than a tag."""
    return ":" in reference
