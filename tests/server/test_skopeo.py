"""A real client: skopeo copies an OCI layout into the registry and back, byte for byte."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from registry_harness.builders import Manifest, build_image
from registry_harness.spec import DOCKER_MANIFEST_V2, OCI_MANIFEST
from tests.server.helpers import Client

pytestmark = pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed")


def _write_layout(directory: Path, tag: str, img: Manifest) -> dict[str, bytes]:
    """An OCI image layout holding ``img`` under ``tag``; returns its blobs (manifest included) by digest."""
    blobs = {blob.digest: blob.data for blob in img.blobs} | {img.digest: img.manifest}
    (directory / "blobs" / "sha256").mkdir(parents=True)
    for digest, data in blobs.items():
        (directory / "blobs" / "sha256" / digest.split(":")[1]).write_bytes(data)
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (directory / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        img.descriptor(annotations={"org.opencontainers.image.ref.name": tag})]}))
    return blobs


def _skopeo(*args: str) -> None:
    result = subprocess.run(["skopeo", "--insecure-policy", *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"skopeo {' '.join(args)}\n{result.stderr}"


@pytest.mark.parametrize("fmt", ["oci", "v2s2"])
def test_skopeo_push_and_pull_round_trip(server, tmp_path: Path, fmt: str) -> None:
    source, back = tmp_path / "source", tmp_path / "back"
    img = build_image((64,), "oci", seed=7, real_layers=True)  # a real gzipped tar layer
    blobs = _write_layout(source, "v1", img)
    source_config = img.config.data
    reference = f"docker://{server.host_port}/skopeo/{fmt}:v1"
    _skopeo("copy", "--dest-tls-verify=false", "--format", fmt, "oci:" + str(source) + ":v1", reference)
    _skopeo("copy", "--src-tls-verify=false", reference, "oci:" + str(back) + ":v1")

    client = Client(server.url)
    manifest_digest = json.loads((back / "index.json").read_text())["manifests"][0]["digest"]
    manifest = json.loads((back / "blobs" / "sha256" / manifest_digest.split(":")[1]).read_bytes())
    for descriptor in manifest["layers"]:
        copied = (back / "blobs" / "sha256" / descriptor["digest"].split(":")[1]).read_bytes()
        assert copied == blobs[descriptor["digest"]]
    stored = client.get(f"/v2/skopeo/{fmt}/manifests/v1", 200)
    expected_type = OCI_MANIFEST if fmt == "oci" else DOCKER_MANIFEST_V2
    assert stored.headers["Content-Type"] == expected_type
    # v2s2 makes skopeo rewrite the config in Docker's form (and back to OCI on the way out)
    config = client.get(f"/v2/skopeo/{fmt}/blobs/{stored.json()['config']['digest']}", 200).content
    assert json.loads(config)["rootfs"] == json.loads(source_config)["rootfs"]
    if fmt == "oci":
        assert config == source_config and stored.content == blobs[manifest_digest]
        assert manifest_digest in blobs
