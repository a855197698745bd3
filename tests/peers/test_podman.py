"""podman (vfs storage, no daemon) pulls, pushes and re-pulls images: what it gets back must be the same image."""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from registry_harness import spec
from registry_harness.builders import build_image
from registry_harness.digests import digest_of
from registry_harness.layouts import write_oci_layout
from tests.peers.support import client_for, netloc, require_tool, run, unique_repo

Podman = Callable[..., str]


@pytest.fixture
def podman(tmp_path: Path) -> Iterator[Podman]:
    """Run podman with its own storage under ``tmp_path``; returns stdout.

    The run root lives in a short directory of its own: podman refuses run roots over 50 characters.
    """
    binary = require_tool("podman")
    with tempfile.TemporaryDirectory(prefix="podman-run-") as runroot:
        base = [binary, "--storage-driver", "vfs", "--root", str(tmp_path / "storage"),
                "--runroot", runroot, "--tmpdir", str(tmp_path / "tmp"),
                "--cgroup-manager", "cgroupfs", "--events-backend", "file"]

        def podman_run(*args: str) -> str:
            return run([*base, *args]).stdout

        yield podman_run


def image_id(podman: Podman, ref: str) -> str:
    return podman("image", "inspect", "--format", "{{.Id}}", ref).strip()


def verify_served_image(registry: str, repo: str, tag: str) -> tuple[str, dict]:
    """Fetch ``repo:tag`` with our own client, check every blob it references; return (media type, body)."""
    client = client_for(registry)
    manifest = client.get_manifest(repo, tag, expect=200)
    assert manifest.headers["Docker-Content-Digest"] == digest_of(manifest.content)
    body = manifest.json()
    for descriptor in [body["config"], *body["layers"]]:
        data = client.pull_verified(repo, descriptor["digest"])
        assert len(data) == descriptor["size"]
    return manifest.headers["Content-Type"], body


def test_pull_an_image_and_push_it_to_another_repository(podman: Podman, registry: str, tmp_path: Path) -> None:
    skopeo = require_tool("skopeo")
    image = build_image((4000, 9000), "oci", real_layers=True)
    write_oci_layout(tmp_path / "src", image, "v1")
    source, copy = unique_repo("podman/src"), unique_repo("podman/copy")
    host = netloc(registry)
    run([skopeo, "copy", "--dest-tls-verify=false", f"oci:{tmp_path}/src:v1", f"docker://{host}/{source}:v1"])

    podman("pull", "--tls-verify=false", f"{host}/{source}:v1")
    # podman's image id is the config digest; it verified every layer's diff_id while unpacking.
    assert image_id(podman, f"{host}/{source}:v1") == image.config.digest.split(":")[1]

    podman("tag", f"{host}/{source}:v1", f"{host}/{copy}:v2")
    podman("push", "--tls-verify=false", f"{host}/{copy}:v2")
    _, body = verify_served_image(registry, copy, "v2")
    assert body["config"]["digest"] == image.config.digest

    podman("rmi", "--all", "--force")
    podman("pull", "--tls-verify=false", f"{host}/{copy}:v2")
    assert image_id(podman, f"{host}/{copy}:v2") == image.config.digest.split(":")[1]


def test_push_an_image_podman_built_itself(podman: Podman, registry: str, tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs.tar"
    with tarfile.open(rootfs, "w") as tar:
        for name, content in {"etc/motd": b"registry-harness\n", "data/blob.bin": bytes(range(256)) * 400}.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    repo = unique_repo("podman/imported")
    ref = f"{netloc(registry)}/{repo}:built"
    podman("import", str(rootfs), ref)
    local_id = image_id(podman, ref)

    # podman compresses the layer itself, so every blob travels through a real upload session.
    podman("push", "--tls-verify=false", "--format", "oci", ref)
    media_type, body = verify_served_image(registry, repo, "built")
    assert media_type == spec.OCI_MANIFEST
    assert body["config"]["digest"] == f"sha256:{local_id}"

    podman("rmi", "--all", "--force")
    podman("pull", "--tls-verify=false", ref)
    assert image_id(podman, ref) == local_id
    tags = client_for(registry).tags_list(repo, expect=200).json()
    assert tags == {"name": repo, "tags": ["built"]}
    assert json.loads(podman("images", "--format", "json"))[0]["Id"] == local_id
