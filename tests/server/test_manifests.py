"""Manifests (end-3, end-7a/b, end-9): every type, validation codes, negotiation, deletes."""

from __future__ import annotations

import json

import pytest

from registry_harness import schema1
from registry_harness.builders import Blob, Manifest, build_artifact, build_index
from registry_harness.digests import digest_of
from registry_harness.spec import (
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST_V1_SIGNED,
    DOCKER_MANIFEST_V2,
    OCI_EMPTY_JSON,
    OCI_INDEX,
    OCI_MANIFEST,
)
from tests.server.helpers import Client, image


def _artifact(subject: Manifest | None = None, annotations: dict[str, str] | None = None) -> bytes:
    """An SBOM-typed artifact: empty config, the empty blob as its only layer."""
    return build_artifact("application/vnd.example.sbom", subject=subject, blobs=(), annotations=annotations).manifest


@pytest.mark.parametrize("docker", [False, True], ids=["oci", "docker-schema2"])
def test_image_manifest_round_trips_byte_for_byte(client: Client, repo: str, docker: bool) -> None:
    img = image("rt", docker=docker)
    digest = client.push_image(repo, img, "v1").headers["Docker-Content-Digest"]
    for reference in ("v1", digest):
        response = client.get(f"/v2/{repo}/manifests/{reference}", 200, headers={"Accept": img.media_type})
        assert response.content == img.manifest
        assert response.headers["Content-Type"] == img.media_type
        assert response.headers["Docker-Content-Digest"] == digest
        head = client.head(f"/v2/{repo}/manifests/{reference}", 200, headers={"Accept": img.media_type})
        assert head.headers["Content-Length"] == str(img.size)
        assert head.headers["Docker-Content-Digest"] == digest and head.content == b""


def test_put_answers_201_with_location_and_digest(client: Client, repo: str) -> None:
    img = image("loc")
    for blob in img.blobs:
        client.push_blob(repo, blob.data)
    response = client.push_manifest(repo, "v1", img.manifest, img.media_type)
    assert response.headers["Location"] == f"/v2/{repo}/manifests/{img.digest}"
    assert response.headers["Docker-Content-Digest"] == img.digest


@pytest.mark.parametrize("index_type,child_docker", [(OCI_INDEX, False), (DOCKER_MANIFEST_LIST, True)])
def test_index_and_manifest_list(client: Client, repo: str, index_type: str, child_docker: bool) -> None:
    children = [image(seed, docker=child_docker) for seed in ("amd", "arm")]
    for seed, img in zip(("amd", "arm"), children, strict=True):
        client.push_image(repo, img, seed)
    body = build_index(children, "docker" if child_docker else "oci").manifest
    digest = client.push_manifest(repo, "multi", body, index_type).headers["Docker-Content-Digest"]
    response = client.get(f"/v2/{repo}/manifests/multi", 200, headers={"Accept": index_type})
    assert response.content == body and response.headers["Content-Type"] == index_type
    assert digest == digest_of(body)


def test_index_with_a_missing_child_is_manifest_blob_unknown(client: Client, repo: str) -> None:
    body = build_index([image("no such manifest")]).manifest  # a child never pushed
    client.push_manifest(repo, "x", body, OCI_INDEX, 400, "MANIFEST_BLOB_UNKNOWN")


def test_artifact_with_empty_config(client: Client, repo: str) -> None:
    client.push_blob(repo, OCI_EMPTY_JSON)
    body = _artifact()
    client.push_manifest(repo, "sbom", body, OCI_MANIFEST)
    assert client.get(f"/v2/{repo}/manifests/sbom", 200).content == body


def test_custom_config_media_type_and_extra_fields(client: Client, repo: str) -> None:
    config = Blob(b'{"custom": true}', "application/vnd.example.config+json")
    client.push_blob(repo, config.data)
    body = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config.descriptor(),
        "layers": [], "x-custom-field": {"kept": [1, 2.50, "three"]},
    }, indent=3).encode()
    client.push_manifest(repo, "custom", body, OCI_MANIFEST)
    assert client.get(f"/v2/{repo}/manifests/custom", 200).content == body


def test_missing_subject_is_accepted_and_echoed(client: Client, repo: str) -> None:
    client.push_blob(repo, OCI_EMPTY_JSON)
    subject = image("not pushed yet")
    response = client.push_manifest(repo, "sig", _artifact(subject), OCI_MANIFEST)
    assert response.headers["OCI-Subject"] == subject.digest


def test_missing_layer_is_manifest_blob_unknown(client: Client, repo: str) -> None:
    img = image("missing")
    client.push_blob(repo, img.config.data)
    client.push_manifest(repo, "v1", img.manifest, img.media_type, 400, "MANIFEST_BLOB_UNKNOWN")


def test_blob_of_another_repository_does_not_count(client: Client, repo: str) -> None:
    img = image("elsewhere")
    client.push_image(repo, img, "v1")
    client.push_manifest(repo + "-other", "v1", img.manifest, img.media_type, 400, "MANIFEST_BLOB_UNKNOWN")


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"schemaVersion": 2, "layers": "x"}',
                                  b'{"schemaVersion": 3, "config": {}, "layers": []}'])
def test_invalid_manifests_are_manifest_invalid(client: Client, repo: str, body: bytes) -> None:
    client.push_manifest(repo, "bad", body, OCI_MANIFEST, 400, "MANIFEST_INVALID")


def test_content_type_disagreeing_with_media_type_is_invalid(client: Client, repo: str) -> None:
    img = image("mismatch")
    client.push_image(repo, img, "v1")
    client.push_manifest(repo, "v2", img.manifest, DOCKER_MANIFEST_V2, 400, "MANIFEST_INVALID")


def test_put_by_digest_must_match_the_body(client: Client, repo: str) -> None:
    img = image("bydigest")
    client.push_image(repo, img, "v1")
    client.push_manifest(repo, img.digest, img.manifest, img.media_type)
    client.push_manifest(repo, digest_of(b"other"), img.manifest, img.media_type, 400, "DIGEST_INVALID")


def test_put_by_sha512_digest(client: Client, repo: str) -> None:
    img = image("sha512")
    client.push_image(repo, img, "v1")
    digest = digest_of(img.manifest, "sha512")
    response = client.push_manifest(repo, digest, img.manifest, img.media_type)
    assert response.headers["Docker-Content-Digest"] == digest
    assert client.get(f"/v2/{repo}/manifests/{digest}", 200).content == img.manifest


def test_put_by_digest_with_several_tags(client: Client, repo: str) -> None:
    img = image("tags")
    client.push_image(repo, img, "v1")
    response = client.push_manifest(repo, img.digest, img.manifest, img.media_type, tags=("a", "b"))
    assert response.raw.headers.getlist("OCI-Tag") == ["a", "b"]
    for tag in ("a", "b"):
        assert client.get(f"/v2/{repo}/manifests/{tag}", 200).headers["Docker-Content-Digest"] == img.digest
    client.push_manifest(repo, img.digest, img.manifest, img.media_type, 400, "TAG_INVALID",
                         tags=("-bad",))


def test_bad_tag_and_bad_digest_references(client: Client, repo: str) -> None:
    img = image("refs")
    client.push_image(repo, img, "v1")
    client.push_manifest(repo, "-starts-with-dash", img.manifest, img.media_type, 400, "TAG_INVALID")
    client.push_manifest(repo, "x" * 129, img.manifest, img.media_type, 400, "TAG_INVALID")
    client.push_manifest(repo, "sha256:short", img.manifest, img.media_type, 400, "DIGEST_INVALID")
    client.get(f"/v2/{repo}/manifests/md5:abcdef", 400, "DIGEST_INVALID")


def test_signed_schema1_manifest_digest_is_the_payload_hash(client: Client, repo: str) -> None:
    layer = client.push_blob(repo, b"schema1 layer")
    signed = schema1.build(repo, "old", [layer], ['{"id":"abc"}'])
    response = client.push_manifest(repo, "old", signed.body, DOCKER_MANIFEST_V1_SIGNED)
    assert response.headers["Docker-Content-Digest"] == signed.digest != digest_of(signed.body)
    fetched = client.get(f"/v2/{repo}/manifests/{signed.digest}", 200)
    assert fetched.content == signed.body
    assert fetched.headers["Content-Type"] == DOCKER_MANIFEST_V1_SIGNED


def test_tampered_schema1_signature_is_manifest_unverified(client: Client, repo: str) -> None:
    layer = client.push_blob(repo, b"schema1 layer")
    signed = schema1.build(repo, "old", [layer], ['{"id":"abc"}'])
    tampered = signed.body.replace(b'"tag": "old"', b'"tag": "new"')
    client.push_manifest(repo, "old", tampered, DOCKER_MANIFEST_V1_SIGNED, 400, "MANIFEST_UNVERIFIED")


def test_manifest_over_the_limit_is_413(make_server) -> None:
    client = make_server("--max-manifest-bytes", "1000", "--storage", "memory")
    client.push_blob("big", OCI_EMPTY_JSON)
    body = _artifact(annotations={"padding": "x" * 2000})
    response = client.push_manifest("big", "v1", body, OCI_MANIFEST, 413)
    assert response.json()["errors"][0]["code"] in ("MANIFEST_INVALID", "SIZE_INVALID")
    client.push_manifest("big", "v1", _artifact(), OCI_MANIFEST, 201)


def test_default_limit_accepts_a_4_mb_manifest(client: Client, repo: str) -> None:
    client.push_blob(repo, OCI_EMPTY_JSON)
    body = _artifact(annotations={"padding": "x" * (4 * 1024 * 1024 - 1000)})
    client.push_manifest(repo, "large", body, OCI_MANIFEST, 201)


class TestContentNegotiation:
    """GET returns the stored manifest only when the Accept headers allow its type."""

    @pytest.fixture
    def pushed(self, client: Client, repo: str) -> tuple[str, str]:
        client.push_image(repo, image("neg"), "v1")
        return repo, OCI_MANIFEST

    @pytest.mark.parametrize("accept", [
        None, "*/*", OCI_MANIFEST, f"{DOCKER_MANIFEST_V2}, {OCI_MANIFEST}", "application/*",
        f"{DOCKER_MANIFEST_V2};q=0.9, {OCI_MANIFEST};q=0.5",
    ])
    def test_acceptable(self, client: Client, pushed, accept) -> None:
        repo, media_type = pushed
        headers = {} if accept is None else {"Accept": accept}
        assert client.get(f"/v2/{repo}/manifests/v1", 200, headers=headers).headers["Content-Type"] == media_type

    def test_several_accept_headers(self, client: Client, pushed) -> None:
        import http.client
        repo, media_type = pushed
        connection = http.client.HTTPConnection(client.target.host, client.target.port, timeout=10)
        connection.putrequest("GET", f"/v2/{repo}/manifests/v1")
        connection.putheader("Accept", DOCKER_MANIFEST_V2)
        connection.putheader("Accept", media_type)
        connection.endheaders()
        assert connection.getresponse().status == 200
        connection.close()

    @pytest.mark.parametrize("accept", [DOCKER_MANIFEST_V2, f"{OCI_MANIFEST};q=0", "text/plain"])
    def test_not_acceptable_is_404_manifest_unknown(self, client: Client, pushed, accept) -> None:
        repo, _ = pushed
        client.get(f"/v2/{repo}/manifests/v1", 404, "MANIFEST_UNKNOWN", headers={"Accept": accept})


def test_delete_tag_keeps_the_manifest(client: Client, repo: str) -> None:
    img = image("deltag")
    digest = client.push_image(repo, img, "v1").headers["Docker-Content-Digest"]
    client.delete(f"/v2/{repo}/manifests/v1", 202)
    client.get(f"/v2/{repo}/manifests/v1", 404, "MANIFEST_UNKNOWN")
    client.get(f"/v2/{repo}/manifests/{digest}", 200)


def test_delete_by_digest_removes_the_manifest_and_its_tags(client: Client, repo: str) -> None:
    img = image("deldigest")
    digest = client.push_image(repo, img, "v1").headers["Docker-Content-Digest"]
    client.push_manifest(repo, "v2", img.manifest, img.media_type)
    client.delete(f"/v2/{repo}/manifests/{digest}", 202)
    for reference in (digest, "v1", "v2"):
        client.get(f"/v2/{repo}/manifests/{reference}", 404, "MANIFEST_UNKNOWN")
    assert client.get(f"/v2/{repo}/tags/list", 200).json()["tags"] == []
    client.delete(f"/v2/{repo}/manifests/{digest}", 404, "MANIFEST_UNKNOWN")
    client.delete(f"/v2/{repo}/manifests/nosuchtag", 404, "MANIFEST_UNKNOWN")


def test_manifest_in_unknown_repository(client: Client, repo: str) -> None:
    client.get(f"/v2/{repo}/manifests/latest", 404, "NAME_UNKNOWN")
