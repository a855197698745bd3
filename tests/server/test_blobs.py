"""Blob reads (end-2), deletes (end-10), mounts (end-11) and repository isolation."""

from __future__ import annotations

import os

import pytest

from registry_harness.digests import digest_of
from tests.server.helpers import Client, expect, image

BLOB = os.urandom(100_000)


def test_get_and_head_carry_digest_length_etag_and_type(client: Client, repo: str) -> None:
    digest = client.push_blob(repo, BLOB)
    for method in ("GET", "HEAD"):
        response = client.request(method, f"/v2/{repo}/blobs/{digest}", 200)
        assert response.headers["Docker-Content-Digest"] == digest
        assert response.headers["Content-Length"] == str(len(BLOB))
        assert response.headers["ETag"] == f'"{digest}"'
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert response.content == (BLOB if method == "GET" else b"")


def test_range_requests_answer_206_with_content_range(client: Client, repo: str) -> None:
    digest = client.push_blob(repo, BLOB)
    cases = {"bytes=0-9": (0, 9), "bytes=99990-": (99990, 99999), "bytes=-5": (99995, 99999),
             "bytes=99990-200000": (99990, 99999)}
    for header, (start, end) in cases.items():
        response = client.get(f"/v2/{repo}/blobs/{digest}", 206, headers={"Range": header})
        assert response.content == BLOB[start:end + 1], header
        assert response.headers["Content-Range"] == f"bytes {start}-{end}/{len(BLOB)}"
        assert response.headers["Content-Length"] == str(end - start + 1)


def test_unsatisfiable_range_is_416(client: Client, repo: str) -> None:
    digest = client.push_blob(repo, BLOB)
    response = client.get(f"/v2/{repo}/blobs/{digest}", 416, "RANGE_INVALID",
                          headers={"Range": f"bytes={len(BLOB)}-"})
    assert response.headers["Content-Range"] == f"bytes */{len(BLOB)}"


def test_if_none_match_answers_304(client: Client, repo: str) -> None:
    digest = client.push_blob(repo, BLOB)
    response = client.get(f"/v2/{repo}/blobs/{digest}", 304, headers={"If-None-Match": f'"{digest}"'})
    assert response.content == b""
    client.get(f"/v2/{repo}/blobs/{digest}", 200, headers={"If-None-Match": '"sha256:other"'})


def test_unknown_blob_is_404_blob_unknown(client: Client, repo: str) -> None:
    client.push_blob(repo, b"something")
    client.get(f"/v2/{repo}/blobs/{digest_of(b'absent')}", 404, "BLOB_UNKNOWN")
    client.head(f"/v2/{repo}/blobs/{digest_of(b'absent')}", 404)


def test_blob_in_unknown_repository_is_404_name_unknown(client: Client, repo: str) -> None:
    client.get(f"/v2/{repo}/blobs/{digest_of(b'absent')}", 404, "NAME_UNKNOWN")


def test_delete_blob_then_get_is_404(client: Client, repo: str) -> None:
    digest = client.push_blob(repo, BLOB)
    client.push_blob(repo, b"keeps the repository alive")
    client.delete(f"/v2/{repo}/blobs/{digest}", 202)
    client.get(f"/v2/{repo}/blobs/{digest}", 404, "BLOB_UNKNOWN")
    client.delete(f"/v2/{repo}/blobs/{digest}", 404, "BLOB_UNKNOWN")


def test_a_blob_is_not_readable_from_another_repository(client: Client, repo: str) -> None:
    digest = client.push_blob(repo, BLOB)
    client.push_blob(repo + "-b", b"other content")
    client.get(f"/v2/{repo}-b/blobs/{digest}", 404, "BLOB_UNKNOWN")


def test_mount_from_a_repository_holding_the_blob(client: Client, repo: str) -> None:
    digest = client.push_blob(repo, BLOB)
    response = expect(client.mount_blob(f"{repo}-m", digest, from_repo=repo), 201)
    assert response.headers["Location"] == f"/v2/{repo}-m/blobs/{digest}"
    assert response.headers["Docker-Content-Digest"] == digest
    assert client.get(f"/v2/{repo}-m/blobs/{digest}", 200).content == BLOB


def test_mount_without_from_finds_the_blob_in_any_repository(client: Client, repo: str) -> None:
    digest = client.push_blob(repo, BLOB + b"no-from")
    expect(client.mount_blob(f"{repo}-n", digest), 201)
    client.get(f"/v2/{repo}-n/blobs/{digest}", 200)


def test_mount_falls_back_to_an_upload_session(client: Client, repo: str) -> None:
    digest = client.push_blob(repo, BLOB)
    absent = digest_of(b"never pushed")
    response = expect(client.mount_blob(f"{repo}-f", absent, from_repo=repo), 202)
    client.put(response.headers["Location"], 201, params={"digest": digest_of(b"x")}, data=b"x")
    # the blob is in `repo` but `from` names a repository that lacks it: no mount
    client.push_blob(repo + "-g", b"filler")
    expect(client.mount_blob(f"{repo}-f", digest, from_repo=repo + "-g"), 202)
    client.get(f"/v2/{repo}-f/blobs/{digest}", 404, "BLOB_UNKNOWN")


def test_manifest_bytes_are_readable_through_the_blob_endpoint(client: Client, repo: str) -> None:
    img = image("blob-endpoint")
    client.push_image(repo, img, "v1")
    assert client.get(f"/v2/{repo}/blobs/{img.digest}", 200).content == img.manifest


@pytest.mark.parametrize("storage", ["filesystem", "memory"])
def test_zero_byte_blob_head_and_get_state_content_length_0(make_server, storage: str) -> None:
    client = make_server("--storage", storage)
    digest = client.push_blob("empty/blob", b"")
    for method in ("HEAD", "GET"):
        response = client.request(method, f"/v2/empty/blob/blobs/{digest}", 200)
        assert response.headers.get("Content-Length") == "0", f"{storage} {method}: {dict(response.headers)}"
        assert response.content == b""
