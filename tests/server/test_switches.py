"""Feature switches: each variant answers with the spec's 'unsupported' forms."""

from __future__ import annotations

from registry_harness.builders import build_artifact
from registry_harness.spec import OCI_EMPTY_JSON, OCI_MANIFEST
from tests.server.helpers import image


def test_no_delete(make_server) -> None:
    client = make_server("--no-delete", "--storage", "memory")
    img = image("nodelete")
    client.push_image("r", img, "v1")
    client.delete(f"/v2/r/manifests/{img.digest}", 405, "UNSUPPORTED")
    client.delete("/v2/r/manifests/v1", 405, "UNSUPPORTED")
    client.delete(f"/v2/r/blobs/{img.config.digest}", 405, "UNSUPPORTED")
    client.get(f"/v2/r/manifests/{img.digest}", 200)
    location = client.post("/v2/r/blobs/uploads/", 202).headers["Location"]
    client.delete(location, 204)  # cancelling an upload is not deleting content


def test_read_only(make_server, tmp_path) -> None:
    root = tmp_path / "shared-root"
    writer = make_server(root=root)
    img = image("readonly")
    writer.push_image("r", img, "v1")
    writer.process.stop()
    client = make_server("--read-only", root=root)
    client.get(f"/v2/r/manifests/{img.digest}", 200)
    client.get(f"/v2/r/blobs/{img.config.digest}", 200)
    client.post("/v2/r/blobs/uploads/", 405, "UNSUPPORTED")
    client.push_manifest("r", "v2", img.manifest, OCI_MANIFEST, 405, "UNSUPPORTED")
    client.delete(f"/v2/r/manifests/{img.digest}", 405, "UNSUPPORTED")
    client.patch("/v2/r/blobs/uploads/x", 405, "UNSUPPORTED")


def test_no_referrers(make_server) -> None:
    client = make_server("--no-referrers", "--storage", "memory")
    client.push_blob("r", OCI_EMPTY_JSON)
    subject = image("subject")
    body = build_artifact("application/x", subject=subject, blobs=()).manifest
    response = client.push_manifest("r", "sig", body, OCI_MANIFEST)
    assert "OCI-Subject" not in response.headers
    client.get(f"/v2/r/referrers/{subject.digest}", 404, "UNSUPPORTED")


def test_no_catalog(make_server) -> None:
    client = make_server("--no-catalog", "--storage", "memory")
    client.push_blob("r", b"x")
    client.get("/v2/_catalog", 404, "UNSUPPORTED")
    client.get("/v2/r/tags/list", 200)
