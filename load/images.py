"""Test images for the load profiles: seeded pull images and cheap unique layers for pushes.

Pull images are reproducible from (run id, size), so every Locust process knows their digests
without talking to the others. Push layers share one random base per process and differ only in
a 32-byte tail, so a fresh digest costs a hash-state copy instead of hashing the whole layer again.
"""

from __future__ import annotations

import hashlib
import random
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from registry_harness import spec
from registry_harness.builders import Blob, Manifest, build_image, canonical_json, image_config

MiB = 1024 * 1024
IMAGE_SIZES = {"1MiB": 1 * MiB, "10MiB": 10 * MiB, "100MiB": 100 * MiB}
MIXED_WEIGHTS = (("1MiB", 20), ("10MiB", 70), ("100MiB", 10))
SIZE_CHOICES = (*IMAGE_SIZES, "mixed")
_SIZE_RE = re.compile(r"^(?P<num>\d+)\s*(?P<unit>[KMG]i?B|B)?$", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2, "gb": 1000**3, "gib": 1024**3}
TAIL = 32
IO_CHUNK = 1 * MiB


def parse_size(text: str) -> int:
    """``1MiB``/``512KiB``/``1000`` → bytes; ValueError with a readable message otherwise."""
    match = _SIZE_RE.match(text.strip())
    if not match:
        raise ValueError(f"size {text!r} is not a number with an optional unit (B, KiB, MiB, GiB)")
    return int(match.group("num")) * _UNITS[(match.group("unit") or "b").lower()]


def size_labels(choice: str) -> list[str]:
    """The size labels a ``--image-size`` choice involves (``mixed`` → all three)."""
    if choice == "mixed":
        return [label for label, _ in MIXED_WEIGHTS]
    if choice not in IMAGE_SIZES:
        raise ValueError(f"image size {choice!r} is not one of {', '.join(SIZE_CHOICES)}")
    return [choice]


def pick_size(choice: str, rng: random.Random) -> str:
    """One size label for the next operation: fixed, or drawn 20/70/10 for ``mixed``."""
    if choice != "mixed":
        return choice
    labels, weights = zip(*MIXED_WEIGHTS, strict=True)
    return rng.choices(labels, weights)[0]


@dataclass(frozen=True)
class SeededImage:
    """A pull image as seeded: where it lives and the manifest that describes it."""

    label: str
    repo: str
    tag: str
    image: Manifest

    @property
    def digest(self) -> str:
        return self.image.digest


def _seed_of(run_id: str, label: str) -> int:
    return zlib.crc32(f"{run_id}/{label}".encode())


@lru_cache(maxsize=8)
def seeded_image(run_id: str, label: str, repo_prefix: str) -> SeededImage:
    """The pull image of ``label`` size for this run (identical in every process of the run)."""
    image = build_image((IMAGE_SIZES[label],), seed=_seed_of(run_id, label))
    return SeededImage(label, f"{repo_prefix}/{run_id}/pull-{label.lower()}", "v1", image)


class BlobBody:
    """A request body of ``base[start:end] + tail`` bytes, streamed in 1 MiB pieces with a known length.

    Supports ``len``, slicing (for chunked uploads) and iteration, which is all the shared client
    and requests need; the base buffer is never copied.
    """

    def __init__(self, base: memoryview, tail: bytes, start: int = 0, end: int | None = None) -> None:
        self.base = base
        self.tail = tail
        self.start = start
        self.end = len(base) + len(tail) if end is None else end

    def __len__(self) -> int:
        return max(self.end - self.start, 0)

    def __getitem__(self, item: slice) -> BlobBody:
        if not isinstance(item, slice) or item.step not in (None, 1):
            raise TypeError("BlobBody supports contiguous slices only")
        start, end, _ = item.indices(len(self))
        return BlobBody(self.base, self.tail, self.start + start, self.start + max(end, start))

    def __iter__(self) -> Iterator[bytes]:
        position = self.start
        split = len(self.base)
        while position < self.end:
            if position < split:
                stop = min(self.end, split, position + IO_CHUNK)
                yield self.base[position:stop]
            else:
                stop = self.end
                yield self.tail[position - split:stop - split]
            position = stop


class LayerFactory:
    """Unique layers of one size: a shared random base plus a distinct tail per layer."""

    def __init__(self, size: int, seed: int) -> None:
        if size <= TAIL:
            raise ValueError(f"layer size must exceed {TAIL} bytes")
        self.size = size
        self.base = memoryview(random.Random(seed).randbytes(size - TAIL))
        self._hash = hashlib.sha256(self.base)

    def layer(self, unique: str) -> tuple[BlobBody, str]:
        """A layer body whose tail encodes ``unique``, and its sha256 digest."""
        tail = hashlib.sha256(unique.encode()).digest()[:TAIL]
        hasher = self._hash.copy()
        hasher.update(tail)
        return BlobBody(self.base, tail), f"sha256:{hasher.hexdigest()}"


@lru_cache(maxsize=4)
def layer_factory(size: int, seed: int = 1) -> LayerFactory:
    """One factory per size and process (the base buffer is shared by every user of the process)."""
    return LayerFactory(size, seed)


def image_for_layer(layer_digest: str, layer_size: int, note: str) -> tuple[Blob, bytes]:
    """A config blob and OCI manifest bytes for a single-layer image (``note`` makes the config unique)."""
    config = Blob(image_config([layer_digest], labels={"org.registry-harness.load": note}), spec.OCI_CONFIG)
    manifest = canonical_json({
        "schemaVersion": 2,
        "mediaType": spec.OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [{"mediaType": spec.OCI_LAYER, "digest": layer_digest, "size": layer_size}],
    })
    return config, manifest
