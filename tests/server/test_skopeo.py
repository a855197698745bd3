"""A real client: skopeo copies an OCI layout into the registry and back, byte for byte."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from registry_harness.spec import DOCKER_MANIFEST_V2, OCI_CONFIG, OCI_LAYER, OCI_MANIFEST
from tests.server.helpers import Client

pytestmark = pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_layout(directory: Path, tag: str) -> dict[str, bytes]:
    """A one-layer OCI image layout; returns its blobs by digest."""
    tar_buffer = io.BytesIO()
    with tarfile.open(fileobj=tar_buffer, mode="w") as archive:
        content = b"hello from the reference registry\n"
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mtime = len(content), 0
        archive.addfile(info, io.BytesIO(content))
    tar = tar_buffer.getvalue()
    layer = gzip.compress(tar, mtime=0)
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["/hello"]},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{_sha256(tar)}"]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "ADD hello.txt"}],
    }).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": f"sha256:{_sha256(config)}", "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": f"sha256:{_sha256(layer)}", "size": len(layer)}],
    }).encode()
    blobs = {f"sha256:{_sha256(data)}": data for data in (layer, config, manifest)}
    (directory / "blobs" / "sha256").mkdir(parents=True)
    for digest, data in blobs.items():
        (directory / "blobs" / "sha256" / digest.split(":")[1]).write_bytes(data)
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (directory / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": OCI_MANIFEST, "digest": f"sha256:{_sha256(manifest)}", "size": len(manifest),
        "annotations": {"org.opencontainers.image.ref.name": tag}}]}))
    return blobs


def _skopeo(*args: str) -> None:
    result = subprocess.run(["skopeo", "--insecure-policy", *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"skopeo {' '.join(args)}\n{result.stderr}"


@pytest.mark.parametrize("fmt", ["oci", "v2s2"])
def test_skopeo_push_and_pull_round_trip(server, tmp_path: Path, fmt: str) -> None:
    source, back = tmp_path / "source", tmp_path / "back"
    blobs = _write_layout(source, "v1")
    source_config = next(data for data in blobs.values() if b'"diff_ids"' in data)
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
