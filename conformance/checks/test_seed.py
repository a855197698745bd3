"""The seed's flows, exactly: docker push of a schema2 image tagged ``7.0.5-bullseye``, _catalog,
tags list, ``http get`` of the manifest (HTTPie sends ``Accept: */*``), and the delete-by-digest
case: the digest a converted schema1 answer reports is not stored (404 MANIFEST_UNKNOWN), the
stored one is (202). Answers are compared in shape with the recorded ones in ``fixtures/seed/``.
"""

from __future__ import annotations

import json

import pytest
import requests

from conformance.rules import rule, should, unsupported
from conformance.steps import OCTET, assert_digest_header, assert_error_code, error_codes, parse_range, start_session
from registry_harness import builders, schema1, spec
from registry_harness.client import RegistryClient, with_query
from registry_harness.data import read_json
from registry_harness.digests import digest_of

TAG = "7.0.5-bullseye"
# What ``http get URL`` (HTTPie) sends: no manifest type named, so no schema2 in Accept.
HTTPIE_HEADERS = {"Accept": "*/*", "Accept-Encoding": "gzip, deflate", "User-Agent": "HTTPie/3.2.1"}
SCHEMA2_ACCEPT = f"{spec.DOCKER_MANIFEST_V2}, {spec.DOCKER_MANIFEST_LIST}"
MAX_CATALOG_PAGES = 200


def recorded(name: str) -> dict:
    """One recorded seed exchange from fixtures/seed/."""
    return read_json("seed", f"{name}.json")


def assert_shape(client: RegistryClient, response: requests.Response, name: str, what: str) -> object:
    """Same status as the recorded seed answer, and a JSON body with the same members and types."""
    seed = recorded(name)
    client.check(response, seed["status"], what)
    if seed["body"] is None:
        return None
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(client.explain(response, (), what) + "\n  body is not JSON") from None
    expected = seed["body"]
    assert isinstance(body, dict), client.explain(response, (), what) + \
        f"\n  body is {type(body).__name__}, the seed's is an object with {sorted(expected)}"
    for key, value in expected.items():
        assert key in body, client.explain(response, (), what) + \
            f"\n  member {key!r} missing (the seed's answer has {sorted(expected)})"
        assert isinstance(body[key], type(value)), client.explain(response, (), what) + \
            f"\n  member {key!r} is {type(body[key]).__name__}, the seed's is {type(value).__name__}"
    return body


def docker_push(client: RegistryClient, repo: str, image: builders.Manifest) -> requests.Response:
    """What ``docker push`` does: HEAD each blob, POST + streamed PATCH + PUT the missing ones, PUT the
    manifest by tag."""
    for blob in image.blobs:
        if client.head_blob(repo, blob.digest).status_code == 200:
            continue
        session = start_session(client, repo)
        response = client.request("PATCH", session.location, data=blob.data, headers=OCTET)
        client.check(response, 202, "docker push: streamed PATCH of a layer (end-5)")
        end = parse_range(client, response, "docker push: streamed PATCH (end-5)")
        assert end == blob.size - 1, client.explain(response, (), "streamed PATCH") + \
            f"\n  Range ends at {end}, {blob.size} bytes were sent"
        closing = client.request("PUT", with_query(client.location(response), {"digest": blob.digest}))
        client.check(closing, 201, "docker push: closing PUT ?digest= (end-6)")
    response = client.put_manifest(repo, TAG, image.manifest, image.media_type)
    client.check(response, 201, f"docker push: PUT /v2/<name>/manifests/{TAG} (end-7)")
    return response


@pytest.fixture
def seed_image(client: RegistryClient, repo: str, cleanup) -> builders.Manifest:
    """A Docker schema2 image with real gzipped tar layers, pushed the way docker does, tagged like the seed."""
    image = builders.build_image((700, 300), "docker", real_layers=True)
    for blob in image.blobs:
        cleanup.blob(repo, blob.digest)
    cleanup.manifest(repo, image.digest)
    docker_push(client, repo, image)
    return image


@rule("end-7", "MUST", "seed", f"docker push of a schema2 image tagged {TAG}: every step succeeds and the manifest "
      "PUT answers 201 with Location and the digest of the pushed bytes")
def test_seed_docker_push(client: RegistryClient, repo: str, cleanup) -> None:
    image = builders.build_image((700, 300), "docker", real_layers=True)
    for blob in image.blobs:
        cleanup.blob(repo, blob.digest)
    cleanup.manifest(repo, image.digest)
    response = docker_push(client, repo, image)
    client.location(response)
    assert response.headers.get("Docker-Content-Digest", image.digest).strip() == image.digest, \
        client.explain(response, (), "manifest PUT (end-7)") + \
        f"\n  Docker-Content-Digest {response.headers.get('Docker-Content-Digest')} is not the digest of the " \
        f"pushed manifest {image.digest}"
    should("Docker-Content-Digest" in response.headers, "manifest PUT answered without Docker-Content-Digest")


@rule("docker-catalog", "MUST", "seed", "GET /v2/_catalog lists the pushed repository as the seed shows "
      "({\"repositories\": [...]}; Docker API, unsupported when the registry answers 401/403/404/405)")
def test_seed_catalog_lists_repository(client: RegistryClient, repo: str, seed_image: builders.Manifest) -> None:
    first = client.catalog(headers={"Accept": "*/*"})
    if first.status_code in (401, 403, 404, 405):
        unsupported(f"_catalog is not offered (answered {first.status_code}); it is not part of the OCI spec")
    assert_shape(client, first, "catalog", "GET /v2/_catalog")
    found = False
    for page in client.pages(first, max_pages=MAX_CATALOG_PAGES, headers={"Accept": "*/*"}):
        names = page.json().get("repositories") or []
        assert all(isinstance(n, str) for n in names), client.explain(page, (), "_catalog page") + \
            "\n  repositories must be a list of names"
        if repo in names:
            found = True
            break
    assert found, client.explain(first, (), "GET /v2/_catalog (following Link)") + \
        f"\n  the pushed repository {repo!r} is not listed"


@rule("end-8a", "MUST", "seed",
      f"GET /v2/<name>/tags/list answers {{\"name\", \"tags\"}} with {TAG}, as the seed shows")
def test_seed_tags_list_shows_tag(client: RegistryClient, repo: str, seed_image: builders.Manifest) -> None:
    response = client.tags_list(repo, headers={"Accept": "*/*"})
    body = assert_shape(client, response, "tags_list", "GET /v2/<name>/tags/list (end-8a)")
    assert body["name"] == repo, client.explain(response, (), "tags list") + \
        f"\n  name is {body['name']!r}, expected {repo!r}"
    assert TAG in body["tags"], client.explain(response, (), "tags list") + f"\n  {TAG!r} is not listed"


def httpie_get(client: RegistryClient, repo: str) -> requests.Response:
    response = client.get_manifest(repo, TAG, accept=None, headers=HTTPIE_HEADERS)
    client.check(response, 200, f"http get /v2/<name>/manifests/{TAG} (Accept: */*, end-3)")
    return response


def judge_httpie_answer(client: RegistryClient, response: requests.Response, repo: str,
                        image: builders.Manifest) -> str:
    """Check the answer is either the stored schema2 manifest or a valid converted schema1 document;
    return the digest it reports (the one a user would copy into DELETE)."""
    what = "manifest GET with Accept: */*"
    media_type = (response.headers.get("Content-Type") or "").split(";")[0].strip()
    if media_type == image.media_type or response.content == image.manifest:
        assert response.content == image.manifest, client.explain(response, (), what) + \
            "\n  Content-Type says schema2 but the body is not the stored manifest"
        assert media_type == image.media_type, client.explain(response, (), what) + \
            f"\n  the stored schema2 bytes came back as Content-Type {media_type!r}"
        assert_digest_header(client, response, image.digest, what)
        return response.headers.get("Docker-Content-Digest", image.digest).strip()
    assert media_type in spec.SCHEMA1_MEDIA_TYPES, client.explain(response, (), what) + \
        f"\n  Content-Type {media_type!r}: neither the stored {image.media_type} nor a schema1 conversion"
    assert_shape(client, response, "manifest_get_schema1", what)
    try:
        payload = schema1.verify(response.content)
    except schema1.Schema1Error as exc:
        raise AssertionError(client.explain(response, (), what) + f"\n  the signed schema1 document does not "
                             f"verify: {exc}") from None
    document = response.json()
    assert document.get("name") == repo and document.get("tag") == TAG, client.explain(response, (), what) + \
        f"\n  schema1 names {document.get('name')!r}:{document.get('tag')!r}, expected {repo!r}:{TAG!r}"
    sums = {layer.get("blobSum") for layer in document.get("fsLayers", [])}
    missing = [layer.digest for layer in image.layers if layer.digest not in sums]
    assert not missing, client.explain(response, (), what) + f"\n  fsLayers lack the pushed layers {missing}"
    reported = (response.headers.get("Docker-Content-Digest") or "").strip()
    should(bool(reported), f"{what}: schema1 answer without Docker-Content-Digest")
    if reported:
        assert reported == digest_of(payload), client.explain(response, (), what) + \
            f"\n  Docker-Content-Digest {reported} is not the digest of the JWS payload {digest_of(payload)}"
    return reported or digest_of(payload)


@rule("end-3", "MUST", "seed", "http get of the manifest by tag (Accept: */*, no schema2) answers 200 with the "
      "stored schema2 manifest, or a verifiable signed schema1 conversion whose digest is its JWS payload's")
def test_seed_manifest_get_like_httpie(client: RegistryClient, repo: str, seed_image: builders.Manifest) -> None:
    judge_httpie_answer(client, httpie_get(client, repo), repo, seed_image)


def _deletion_unsupported(response: requests.Response) -> bool:
    return response.status_code == 405 or (response.status_code == 400 and "UNSUPPORTED" in error_codes(response))


def _unheld_digest(image: builders.Manifest, reported: str) -> str:
    """A digest the registry does not hold: the reported one when it differs from the stored digest (the
    seed's case), else the digest of the same manifest serialized differently."""
    if reported != image.digest:
        return reported
    rendered = json.dumps(image.json(), indent=3).encode()
    if rendered == image.manifest:  # docker itself serializes manifests indented by three
        rendered += b"\n"
    return digest_of(rendered)


@rule("end-9", "MUST", "seed", "DELETE by the digest the GET reported, when it is not the stored digest (schema1 "
      "conversion), answers 404 MANIFEST_UNKNOWN and deletes nothing")
def test_seed_delete_by_reported_digest_is_404(client: RegistryClient, repo: str,
                                               seed_image: builders.Manifest) -> None:
    reported = judge_httpie_answer(client, httpie_get(client, repo), repo, seed_image)
    unheld = _unheld_digest(seed_image, reported)
    response = client.delete_manifest(repo, unheld, headers={"Accept": "*/*"})
    if _deletion_unsupported(response):
        unsupported(f"manifest deletion is disabled (DELETE answered {response.status_code})")
    origin = "the digest the schema1 answer reported" if unheld == reported else "a digest the registry never stored"
    assert_shape(client, response, "delete_reported_digest", f"DELETE by {origin} {unheld} (end-9)")
    assert_error_code(client, response, "MANIFEST_UNKNOWN", what=f"DELETE by {origin}")
    still = client.get_manifest(repo, seed_image.digest, accept=SCHEMA2_ACCEPT)
    client.check(still, 200, "GET by the stored digest after the refused DELETE")
    assert still.content == seed_image.manifest, client.explain(still, (), "GET after refused DELETE") + \
        "\n  the stored manifest changed"


@rule("end-9", "MUST", "seed", "DELETE by the stored digest answers 202; then GET by that digest and by the tag "
      "answer 404")
def test_seed_delete_by_stored_digest_is_202(client: RegistryClient, repo: str,
                                             seed_image: builders.Manifest) -> None:
    stored = client.get_manifest(repo, TAG, accept=SCHEMA2_ACCEPT)
    client.check(stored, 200, "GET the manifest accepting schema2 (end-3)")
    assert_digest_header(client, stored, seed_image.digest, "GET accepting schema2")
    response = client.delete_manifest(repo, seed_image.digest, headers={"Accept": "*/*"})
    if _deletion_unsupported(response):
        unsupported(f"manifest deletion is disabled (DELETE answered {response.status_code})")
    assert_shape(client, response, "delete_stored_digest", f"DELETE by the stored digest {seed_image.digest} (end-9)")
    gone = client.get_manifest(repo, seed_image.digest, accept=SCHEMA2_ACCEPT)
    client.check(gone, 404, "GET by digest after DELETE (end-9: once deleted, GET answers 404)")
    by_tag = client.get_manifest(repo, TAG, accept=SCHEMA2_ACCEPT)
    client.check(by_tag, 404, f"GET by tag {TAG} after its manifest was deleted (end-9)")
