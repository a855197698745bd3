"""On-disk image formats that container clients read and write: OCI image layouts and skopeo's ``dir:``.

Written from registry_harness.builders images so a test knows every byte a client should push,
and read back so what a client pulled can be compared with the original byte for byte.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from registry_harness.builders import Manifest, canonical_json
from registry_harness.digests import digest_of

REF_NAME = "org.opencontainers.image.ref.name"


@dataclass(frozen=True)
class PulledImage:
    """An image read from disk: manifest bytes, its media type and every blob by digest."""

    manifest: bytes
    media_type: str
    blobs: dict[str, bytes]

    @property
    def digest(self) -> str:
        return digest_of(self.manifest)

    def json(self) -> dict:
        return json.loads(self.manifest)

    def referenced(self) -> list[str]:
        """Digests of the config and layers the manifest references, in manifest order."""
        body = self.json()
        return [body["config"]["digest"], *(layer["digest"] for layer in body.get("layers", []))]


def _blob_path(root: Path, digest: str) -> Path:
    algorithm, hex_part = digest.split(":", 1)
    return root / "blobs" / algorithm / hex_part


def write_oci_layout(root: Path, image: Manifest, tag: str) -> Path:
    """Write ``image`` (manifest and blobs) as an OCI image layout at ``root`` under ref name ``tag``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_bytes(canonical_json({"imageLayoutVersion": "1.0.0"}))
    for blob in image.blobs:
        path = _blob_path(root, blob.digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob.data)
    path = _blob_path(root, image.digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(image.manifest)
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [image.descriptor(annotations={REF_NAME: tag})],
    }
    (root / "index.json").write_bytes(canonical_json(index))
    return root


def read_oci_layout(root: Path, tag: str) -> PulledImage:
    """The image tagged ``tag`` in the OCI layout at ``root``, with every blob it references."""
    index = json.loads((root / "index.json").read_bytes())
    entries = [m for m in index["manifests"] if (m.get("annotations") or {}).get(REF_NAME) == tag]
    assert len(entries) == 1, f"expected one manifest named {tag!r} in {root}/index.json, found {index}"
    entry = entries[0]
    manifest = _blob_path(root, entry["digest"]).read_bytes()
    assert digest_of(manifest, entry["digest"].split(":")[0]) == entry["digest"], "index.json digest mismatch"
    image = PulledImage(manifest, entry["mediaType"], {})
    for digest in image.referenced():
        image.blobs[digest] = _blob_path(root, digest).read_bytes()
    return image


def read_dir(root: Path) -> PulledImage:
    """An image in skopeo's ``dir:`` format: ``manifest.json`` plus one file per blob named by its hex."""
    manifest = (root / "manifest.json").read_bytes()
    body = json.loads(manifest)
    image = PulledImage(manifest, body.get("mediaType", ""), {})
    for digest in image.referenced():
        image.blobs[digest] = (root / digest.split(":", 1)[1]).read_bytes()
    return image
