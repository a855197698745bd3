"""Feature switches: each variant answers with the spec's 'unsupported' forms."""

from __future__ import annotations

import json

from registry_harness.digests import digest_of
from registry_harness.spec import OCI_EMPTY, OCI_EMPTY_JSON, OCI_MANIFEST
from tests.server.helpers import image


def test_no_delete(make_server) -> None:
    client = make_server("--no-delete", "--storage", "memory")
    img = image("nodelete")
    digest = client.push_image("r", "v1", img)
    client.delete(f"/v2/r/manifests/{digest}", 405, "UNSUPPORTED")
    client.delete("/v2/r/manifests/v1", 405, "UNSUPPORTED")
    client.delete(f"/v2/r/blobs/{digest_of(img.config)}", 405, "UNSUPPORTED")
    client.get(f"/v2/r/manifests/{digest}", 200)
    location = client.post("/v2/r/blobs/uploads/", 202).headers["Location"]
    client.delete(location, 204)  # cancelling an upload is not deleting content


def test_read_only(make_server, tmp_path) -> None:
    root = tmp_path / "shared-root"
    writer = make_server(root=root)
    img = image("readonly")
    digest = writer.push_image("r", "v1", img)
    writer.process.stop()
    client = make_server("--read-only", root=root)
    client.get(f"/v2/r/manifests/{digest}", 200)
    client.get(f"/v2/r/blobs/{digest_of(img.config)}", 200)
    client.post("/v2/r/blobs/uploads/", 405, "UNSUPPORTED")
    client.put("/v2/r/manifests/v2", 405, "UNSUPPORTED", data=img.body, headers={"Content-Type": OCI_MANIFEST})
    client.delete(f"/v2/r/manifests/{digest}", 405, "UNSUPPORTED")
    client.patch("/v2/r/blobs/uploads/x", 405, "UNSUPPORTED")


def test_no_referrers(make_server) -> None:
    client = make_server("--no-referrers", "--storage", "memory")
    client.push_blob("r", OCI_EMPTY_JSON)
    subject = digest_of(b"subject")
    body = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/x",
        "config": {"mediaType": OCI_EMPTY, "digest": digest_of(OCI_EMPTY_JSON), "size": 2}, "layers": [],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": 7},
    }).encode()
    response = client.push_manifest("r", "sig", body, OCI_MANIFEST)
    assert "OCI-Subject" not in response.headers
    client.get(f"/v2/r/referrers/{subject}", 404, "UNSUPPORTED")


def test_no_catalog(make_server) -> None:
    client = make_server("--no-catalog", "--storage", "memory")
    client.push_blob("r", b"x")
    client.get("/v2/_catalog", 404, "UNSUPPORTED")
    client.get("/v2/r/tags/list", 200)
