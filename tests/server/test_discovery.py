"""Tags list (end-8), catalog and referrers (end-12): order, pagination, Link headers, filters."""

from __future__ import annotations

import uuid

import pytest

from registry_harness.builders import Manifest, build_artifact
from registry_harness.digests import digest_of
from registry_harness.spec import OCI_EMPTY_JSON, OCI_INDEX, OCI_MANIFEST
from tests.server.helpers import Client, image

TAGS = ["b", "a", "C", "10", "2", "a.1", "a_2", "z-last"]


@pytest.fixture
def tagged(client: Client, repo: str) -> str:
    img = image("tags-list")
    client.push_image(repo, img, TAGS[0])
    for tag in TAGS[1:]:
        client.push_manifest(repo, tag, img.manifest, img.media_type)
    return repo


def _next(response) -> str | None:
    link = response.headers.get("Link")
    if link is None:
        return None
    assert link.endswith('>; rel="next"')
    return link[1:link.index(">")]


def test_tags_are_listed_in_lexical_order(client: Client, tagged: str) -> None:
    body = client.get(f"/v2/{tagged}/tags/list", 200).json()
    assert body == {"name": tagged, "tags": sorted(TAGS)}


def test_tags_pages_follow_link_headers(client: Client, tagged: str) -> None:
    seen: list[str] = []
    response = client.get(f"/v2/{tagged}/tags/list", 200, params={"n": 3})
    pages = 1
    while True:
        page = response.json()["tags"]
        assert len(page) <= 3
        seen += page
        link = _next(response)
        if link is None:
            break
        assert link.startswith(f"/v2/{tagged}/tags/list?")
        response = client.get(link, 200)
        pages += 1
    assert seen == sorted(TAGS) and pages == 3


def test_last_is_exclusive_and_no_link_on_the_final_page(client: Client, tagged: str) -> None:
    ordered = sorted(TAGS)
    response = client.get(f"/v2/{tagged}/tags/list", 200, params={"n": 100, "last": ordered[2]})
    assert response.json()["tags"] == ordered[3:]
    assert "Link" not in response.headers
    exact = client.get(f"/v2/{tagged}/tags/list", 200, params={"n": len(TAGS)})
    assert "Link" not in exact.headers


def test_n_zero_gives_an_empty_list_and_no_link(client: Client, tagged: str) -> None:
    response = client.get(f"/v2/{tagged}/tags/list", 200, params={"n": 0})
    assert response.json()["tags"] == [] and "Link" not in response.headers


@pytest.mark.parametrize("n", ["-1", "abc", "1.5"])
def test_bad_n_is_pagination_number_invalid(client: Client, tagged: str, n: str) -> None:
    client.get(f"/v2/{tagged}/tags/list", 400, "PAGINATION_NUMBER_INVALID", params={"n": n})
    client.get("/v2/_catalog", 400, "PAGINATION_NUMBER_INVALID", params={"n": n})


def test_tags_of_an_unknown_repository_is_name_unknown(client: Client, repo: str) -> None:
    client.get(f"/v2/{repo}/tags/list", 404, "NAME_UNKNOWN")


def test_catalog_lists_repositories_in_order_and_paginates(make_server) -> None:
    client = make_server("--storage", "memory")
    names = ["zeta", "alpha/one", "alpha", "alpha/two/deep", "beta"]
    for name in names:
        client.push_blob(name, name.encode())
    assert client.get("/v2/_catalog", 200).json() == {"repositories": sorted(names)}
    seen, response = [], client.get("/v2/_catalog", 200, params={"n": 2})
    while True:
        seen += response.json()["repositories"]
        link = _next(response)
        if link is None:
            break
        response = client.get(link, 200)
    assert seen == sorted(names)


def test_emptied_repository_leaves_the_catalog(client: Client) -> None:
    repo = f"vanish/{uuid.uuid4().hex[:8]}"
    img = image("vanish")
    client.push_image(repo, img, "v1")
    assert repo in client.get("/v2/_catalog", 200).json()["repositories"]
    client.delete(f"/v2/{repo}/manifests/{img.digest}", 202)
    for blob in img.blobs:
        client.delete(f"/v2/{repo}/blobs/{blob.digest}", 202)
    assert repo not in client.get("/v2/_catalog", 200).json()["repositories"]
    client.get(f"/v2/{repo}/tags/list", 404, "NAME_UNKNOWN")


def _referrer(client: Client, repo: str, subject: Manifest, artifact_type: str, note: str) -> str:
    """Push an artifact referring to ``subject`` (by digest, no tag); return its digest."""
    artifact = build_artifact(artifact_type, subject=subject, blobs=(), annotations={"note": note})
    response = client.push_manifest(repo, artifact.digest, artifact.manifest, OCI_MANIFEST)
    assert response.headers["OCI-Subject"] == subject.digest
    return artifact.digest


def test_referrers_list_descriptors_with_artifact_type_and_annotations(client: Client, repo: str) -> None:
    subject = image("subject")
    client.push_image(repo, subject, "v1")
    client.push_blob(repo, OCI_EMPTY_JSON)
    sbom = _referrer(client, repo, subject, "application/vnd.example.sbom", "one")
    sig = _referrer(client, repo, subject, "application/vnd.example.sig", "two")
    response = client.get(f"/v2/{repo}/referrers/{subject.digest}", 200)
    assert response.headers["Content-Type"] == OCI_INDEX
    index = response.json()
    assert index["schemaVersion"] == 2 and index["mediaType"] == OCI_INDEX
    by_digest = {d["digest"]: d for d in index["manifests"]}
    assert set(by_digest) == {sbom, sig}
    assert by_digest[sbom]["artifactType"] == "application/vnd.example.sbom"
    assert by_digest[sbom]["annotations"] == {"note": "one"}
    assert by_digest[sbom]["mediaType"] == OCI_MANIFEST and by_digest[sbom]["size"] > 0

    filtered = client.get(f"/v2/{repo}/referrers/{subject.digest}", 200,
                          params={"artifactType": "application/vnd.example.sig"})
    assert filtered.headers["OCI-Filters-Applied"] == "artifactType"
    assert [d["digest"] for d in filtered.json()["manifests"]] == [sig]

    client.delete(f"/v2/{repo}/manifests/{sig}", 202)
    remaining = client.get(f"/v2/{repo}/referrers/{subject.digest}", 200).json()["manifests"]
    assert [d["digest"] for d in remaining] == [sbom]


def test_referrers_of_an_unknown_subject_is_an_empty_index(client: Client, repo: str) -> None:
    client.push_blob(repo, b"x")
    response = client.get(f"/v2/{repo}/referrers/{digest_of(b'nothing refers to me')}", 200)
    assert response.json()["manifests"] == []
    client.get(f"/v2/{repo}/referrers/sha256:nothex", 400, "DIGEST_INVALID")


def test_referrers_paginate_with_link(client: Client, repo: str) -> None:
    client.push_blob(repo, OCI_EMPTY_JSON)
    subject = image("popular subject")  # never pushed: referrers may come first
    made = {_referrer(client, repo, subject, "application/vnd.example.note", str(i)) for i in range(5)}
    seen: list[str] = []
    response = client.get(f"/v2/{repo}/referrers/{subject.digest}", 200, params={"n": 2})
    while True:
        seen += [d["digest"] for d in response.json()["manifests"]]
        link = _next(response)
        if link is None:
            break
        response = client.get(link, 200)
    assert sorted(seen) == sorted(made) and len(seen) == 5
