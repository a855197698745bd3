"""oras-py pushes files as an OCI artifact, lists tags, pulls the files back and deletes a tag."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_harness.builders import random_bytes
from registry_harness.digests import digest_of
from tests.peers.support import client_for, netloc, require_module, unique_repo

TITLE = "org.opencontainers.image.title"


@pytest.fixture
def oras_client():
    """A factory of oras-py clients speaking plain http to a loopback registry."""
    client_module = require_module("oras.client", "oras")

    def make(registry: str):
        return client_module.OrasClient(hostname=netloc(registry), insecure=True)

    return make


@pytest.mark.parametrize("chunked", [False, True], ids=["monolithic", "chunked"])
def test_push_tags_pull_delete(oras_client, registry: str, tmp_path: Path, chunked: bool) -> None:
    files = {"notes.txt": b"registry-harness artifact\n", "payload.bin": random_bytes(150_000)}
    src = tmp_path / "src"
    src.mkdir()
    for name, content in files.items():
        (src / name).write_bytes(content)
    repo = unique_repo("oras/files")
    target = f"{netloc(registry)}/{repo}"
    oras = oras_client(registry)

    for tag in ("v1", "v2"):
        response = oras.push(target=f"{target}:{tag}", files=[str(src / name) for name in files],
                             disable_path_validation=True, manifest_annotations={"version": tag},
                             do_chunked=chunked, chunk_size=64 * 1024, quiet=True)
        assert response.status_code == 201
    assert sorted(oras.get_tags(target)) == ["v1", "v2"]

    manifest = oras.get_manifest(f"{target}:v1")
    assert [layer["annotations"][TITLE] for layer in manifest["layers"]] == list(files)
    assert [layer["digest"] for layer in manifest["layers"]] == [digest_of(c) for c in files.values()]

    pulled = oras.pull(target=f"{target}:v1", outdir=str(tmp_path / "out"))
    assert {Path(p).name: Path(p).read_bytes() for p in pulled} == files

    assert oras.delete_tags(target, "v1") == ["v1"]
    assert oras.get_tags(target) == ["v2"]
    assert client_for(registry).get_manifest(repo, "v1").status_code == 404
    assert oras.get_manifest(f"{target}:v2")["annotations"] == {"version": "v2"}
