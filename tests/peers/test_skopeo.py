"""skopeo copies images into a registry and back out: every manifest and blob must survive byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from registry_harness import spec
from registry_harness.builders import build_image
from registry_harness.digests import digest_of
from registry_harness.layouts import read_dir, read_oci_layout, write_oci_layout
from tests.peers.support import client_for, netloc, require_tool, run, unique_repo


@pytest.fixture
def skopeo() -> str:
    return require_tool("skopeo")


def test_oci_image_round_trip_is_byte_identical(skopeo: str, registry: str, tmp_path: Path) -> None:
    image = build_image((3000, 70_000), "oci", real_layers=True)
    write_oci_layout(tmp_path / "src", image, "v1")
    ref = f"docker://{netloc(registry)}/{unique_repo('skopeo/oci')}"

    run([skopeo, "copy", "--dest-tls-verify=false", f"oci:{tmp_path}/src:v1", f"{ref}:v1"])
    run([skopeo, "copy", "--src-tls-verify=false", f"{ref}:v1", f"oci:{tmp_path}/back:v1"])

    back = read_oci_layout(tmp_path / "back", "v1")
    assert back.manifest == image.manifest, "the manifest came back changed"
    assert back.media_type == spec.OCI_MANIFEST
    assert back.blobs == {blob.digest: blob.data for blob in image.blobs}


def test_docker_schema2_push_serves_what_skopeo_converted(skopeo: str, registry: str, tmp_path: Path) -> None:
    image = build_image((2048,), "oci", real_layers=True)
    write_oci_layout(tmp_path / "src", image, "v1")
    repo = unique_repo("skopeo/docker")
    ref = f"docker://{netloc(registry)}/{repo}"

    run([skopeo, "copy", "--dest-tls-verify=false", "--format", "v2s2", f"oci:{tmp_path}/src:v1", f"{ref}:v1"])
    served = client_for(registry).get_manifest(repo, "v1", accept=spec.DOCKER_MANIFEST_V2, expect=200)
    assert served.headers["Content-Type"] == spec.DOCKER_MANIFEST_V2
    assert served.headers["Docker-Content-Digest"] == digest_of(served.content)

    run([skopeo, "copy", "--src-tls-verify=false", f"{ref}:v1", f"dir:{tmp_path}/back"])
    back = read_dir(tmp_path / "back")
    assert back.manifest == served.content, "skopeo pulled other manifest bytes than the registry serves"
    assert back.media_type == spec.DOCKER_MANIFEST_V2
    # The conversion only relabels media types: config and layers are the very same blobs.
    assert back.blobs == {blob.digest: blob.data for blob in image.blobs}


def test_inspect_list_tags_and_delete(skopeo: str, registry: str, tmp_path: Path) -> None:
    image = build_image((1024,), "oci", real_layers=True)
    write_oci_layout(tmp_path / "src", image, "v1")
    repo = unique_repo("skopeo/tags")
    ref = f"docker://{netloc(registry)}/{repo}"
    for tag in ("v1", "v2", "latest"):
        run([skopeo, "copy", "--dest-tls-verify=false", f"oci:{tmp_path}/src:v1", f"{ref}:{tag}"])

    tags = json.loads(run([skopeo, "list-tags", "--tls-verify=false", ref]).stdout)
    assert sorted(tags["Tags"]) == ["latest", "v1", "v2"]
    inspected = json.loads(run([skopeo, "inspect", "--tls-verify=false", f"{ref}:v2"]).stdout)
    assert inspected["Digest"] == image.digest

    run([skopeo, "delete", "--tls-verify=false", f"{ref}@{image.digest}"])
    gone = client_for(registry).get_manifest(repo, image.digest)
    assert gone.status_code == 404
