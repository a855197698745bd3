"""Content digests: compute, parse and verify ``algorithm:hex`` strings (sha256 and sha512)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from registry_harness.spec import DIGEST_HEX_LENGTHS, DIGEST_RE

SUPPORTED_ALGORITHMS = tuple(DIGEST_HEX_LENGTHS)


class DigestError(ValueError):
    """A digest string that is malformed or uses an algorithm we do not support."""


@dataclass(frozen=True)
class Digest:
    """A parsed, validated digest."""

    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    def hasher(self) -> hashlib._Hash:
        """A fresh hash object of this digest's algorithm."""
        return hashlib.new(self.algorithm)

    def matches(self, data: bytes) -> bool:
        """True when ``data`` hashes to this digest."""
        return hashlib.new(self.algorithm, data).hexdigest() == self.hex


def parse_digest(text: str) -> Digest:
    """Parse ``algorithm:hex``; raise DigestError unless it is a well-formed sha256/sha512 digest."""
    match = DIGEST_RE.match(text or "")
    if not match:
        raise DigestError(f"malformed digest {text!r}")
    algorithm, hex_part = match.group("algorithm"), match.group("hex")
    expected = DIGEST_HEX_LENGTHS.get(algorithm)
    if expected is None:
        raise DigestError(f"unsupported digest algorithm {algorithm!r}")
    if len(hex_part) != expected or any(c not in "0123456789abcdef" for c in hex_part):
        raise DigestError(f"{algorithm} digest must be {expected} lowercase hex characters")
    return Digest(algorithm, hex_part)


def is_valid_digest(text: str) -> bool:
    """True when ``text`` parses as a supported digest."""
    try:
        parse_digest(text)
    except DigestError:
        return False
    return True


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    """The ``algorithm:hex`` digest of ``data``."""
    if algorithm not in SUPPORTED_ALGORITHMS:
        raise DigestError(f"unsupported digest algorithm {algorithm!r}")
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def verify(data: bytes, digest: str) -> bool:
    """True when ``data`` hashes to ``digest``; False for a mismatch or a malformed digest."""
    try:
        return parse_digest(digest).matches(data)
    except DigestError:
        return False
