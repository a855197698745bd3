"""python-dxf stores blobs, mounts them across repositories, names them with a manifest, lists and deletes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from registry_harness import spec
from registry_harness.builders import random_bytes
from registry_harness.digests import digest_of
from tests.peers.support import client_for, netloc, require_module, unique_repo


@pytest.fixture
def dxf_module():
    return require_module("dxf", "python-dxf")


def pull(repo_client, digest: str) -> bytes:
    """All bytes of a blob through dxf (which checks the digest itself while streaming)."""
    return b"".join(repo_client.pull_blob(digest))


def test_push_mount_alias_pull_delete_and_catalog(dxf_module, registry: str, tmp_path: Path) -> None:
    host = netloc(registry)
    first, second = unique_repo("dxf/first"), unique_repo("dxf/second")
    dxf_first = dxf_module.DXF(host, first, insecure=True, timeout=30)
    dxf_second = dxf_module.DXF(host, second, insecure=True, timeout=30)
    blobs = [random_bytes(200_000), b"small blob from dxf"]

    (tmp_path / "big.bin").write_bytes(blobs[0])
    digests = [
        dxf_first.push_blob(filename=str(tmp_path / "big.bin")),  # one PUT with a Content-Length body
        dxf_first.push_blob(data=iter([blobs[1]]), digest=digest_of(blobs[1])),  # chunked transfer encoding
    ]
    assert digests == [digest_of(b) for b in blobs]
    assert [pull(dxf_first, d) for d in digests] == blobs
    assert dxf_first.blob_size(digests[0]) == len(blobs[0])

    # A cross-repository mount must succeed (201): dxf raises DXFMountFailed on anything else.
    assert dxf_second.mount_blob(first, digests[0]) == digests[0]
    assert pull(dxf_second, digests[0]) == blobs[0]

    manifest = json.loads(dxf_first.set_alias("release", *digests))
    assert manifest["mediaType"] == spec.DOCKER_MANIFEST_V2
    assert dxf_first.get_alias("release") == digests
    assert dxf_first.list_aliases() == ["release"]
    served = client_for(registry).get_manifest(first, "release", expect=200)
    assert served.headers["Docker-Content-Digest"] == "sha256:" + hashlib.sha256(served.content).hexdigest()

    catalog = dxf_module.DXFBase(host, insecure=True, timeout=30).list_repos(batch_size=2)
    assert {first, second} <= set(catalog)
    assert len(catalog) == len(set(catalog)), f"a catalog page repeated a repository: {catalog}"

    assert dxf_first.del_alias("release") == digests
    assert dxf_first.list_aliases() == []
    dxf_second.del_blob(digests[0])
    assert client_for(registry).head_blob(second, digests[0]).status_code == 404
    assert pull(dxf_first, digests[0]) == blobs[0], "deleting the mounted copy removed the original"
