"""Push checks: blob uploads in every mode, chunk rules, session status and cancel, digest
verification, sha512, cross-repository mounts and repository isolation (end-4a … end-14)."""

from __future__ import annotations

import pytest

from conformance.fixtures import Cleanup
from conformance.rules import OCI_MAIN, rule, should, unsupported
from conformance.steps import (
    OCTET,
    Session,
    assert_blob,
    assert_error_code,
    assert_no_blob,
    blob_location_serves,
    chunks_of,
    close_session,
    error_codes,
    parse_range,
    patch_chunk,
    start_session,
)
from registry_harness import spec
from registry_harness.builders import random_bytes
from registry_harness.client import RegistryClient, with_query
from registry_harness.digests import digest_of

BLOB_SIZE = 3000
CHUNK = 1024
MAX_MIN_CHUNK = 16 * 1024 * 1024  # a registry asking for larger chunks is tested at this size


def _chunk_size(session: Session) -> int:
    return max(CHUNK, min(session.min_chunk, MAX_MIN_CHUNK))


def _sized_blob(session: Session, chunks: int = 3) -> bytes:
    """Random content big enough for ``chunks`` chunks of the registry's minimum length."""
    size = _chunk_size(session)
    return random_bytes(max(BLOB_SIZE, size * (chunks - 1) + 100))


def _session_with_blob(client: RegistryClient, repo: str, cleanup: Cleanup,
                       chunks: int) -> tuple[Session, bytes, str]:
    """An open upload session, content for ``chunks`` chunks of its minimum length, and that content's digest
    (remembered for the run's cleanup)."""
    session = start_session(client, repo)
    data = _sized_blob(session, chunks)
    digest = digest_of(data)
    cleanup.blob(repo, digest)
    return session, data, digest


def _upload(client: RegistryClient, repo: str, data: bytes, mode: str, digest: str,
            session: Session | None = None) -> object:
    """One upload in ``mode`` asserting every step; returns the final 201 response (or "single-202")."""
    if mode == "single":
        response = client.start_upload(repo, {"digest": digest}, data=data, headers=OCTET)
        client.check(response, (201, 202), "single POST ?digest= with the whole blob (end-4b)")
        if response.status_code == 201:
            client.location(response)
            client.check_reported_digest(response, digest, "single POST ?digest= (end-4b)")
            return response
        session = Session(client.location(response))
        close_session(client, session, digest, data, what="PUT after a single POST answered 202 (end-6)")
        return "single-202"
    session = session or start_session(client, repo)
    if mode == "monolithic":
        return close_session(client, session, digest, data, what="monolithic PUT ?digest= with the blob (end-6)")
    if mode == "streamed":
        response = client.request("PATCH", session.location, data=data, headers=OCTET)
        if response.status_code in (400, 405, 416):
            unsupported(f"streamed PATCH without Content-Range answered {response.status_code} "
                        "(only chunked PATCH is defined by OCI)")
        client.check(response, 202, "streamed PATCH without Content-Range (end-5)")
        session.location = client.location(response)
        end = parse_range(client, response, "streamed PATCH (end-5)")
        assert end == len(data) - 1, client.explain(response, (), "streamed PATCH (end-5)") + \
            f"\n  Range ends at {end}, but {len(data)} bytes were sent"
        return close_session(client, session, digest)
    if mode == "chunked":
        received = 0
        for offset, chunk in chunks_of(data, _chunk_size(session)):
            received = patch_chunk(client, session, chunk, offset, received)
        return close_session(client, session, digest)
    raise ValueError(mode)


@rule("end-6", "MUST", "push",
      "a blob uploaded monolithically, by single POST, streamed or in chunks is stored and served byte for byte")
def test_blob_upload(client: RegistryClient, repo: str, upload_mode: str, cleanup) -> None:
    session = start_session(client, repo) if upload_mode == "chunked" else None
    data = _sized_blob(session) if session else random_bytes(BLOB_SIZE)  # chunks honour OCI-Chunk-Min-Length
    digest = digest_of(data)
    cleanup.blob(repo, digest)
    result = _upload(client, repo, data, upload_mode, digest, session)
    assert_blob(client, repo, digest, data)
    if result == "single-202":
        unsupported("single-POST upload not supported (POST ?digest= answered 202); the blob was completed "
                    "with PUT as the spec prescribes")
    blob_location_serves(client, result, data, f"the {upload_mode} upload's 201")  # type: ignore[arg-type]


@rule("end-5", "MUST", "push",
      "every PATCH answers 202 with the next Location and Range: 0-<last byte received>, honouring "
      "OCI-Chunk-Min-Length")
def test_chunk_answers_report_progress(client: RegistryClient, repo: str, cleanup) -> None:
    session, data, digest = _session_with_blob(client, repo, cleanup, chunks=3)
    received = 0
    pieces = chunks_of(data, _chunk_size(session))
    assert len(pieces) >= 2
    for offset, chunk in pieces:
        received = patch_chunk(client, session, chunk, offset, received)
    close_session(client, session, digest)
    assert_blob(client, repo, digest, data)


@rule("end-6", "MUST", "push", "the final chunk MAY travel in the closing PUT (with Content-Range); the registry "
      "must accept it and store the whole blob")
def test_last_chunk_in_closing_put(client: RegistryClient, repo: str, cleanup) -> None:
    session, data, digest = _session_with_blob(client, repo, cleanup, chunks=2)
    split = _chunk_size(session)
    received = patch_chunk(client, session, data[:split], 0, 0)
    close_session(client, session, digest, data[split:], offset=received,
                  what="closing PUT carrying the last chunk (end-6)")
    assert_blob(client, repo, digest, data)


@rule("end-5", "MUST", "push", "a chunk that does not start right after the last byte received is refused "
      "with 416 Requested Range Not Satisfiable")
def test_out_of_order_chunk_is_416(client: RegistryClient, repo: str) -> None:
    session = start_session(client, repo)
    data = _sized_blob(session, chunks=3)
    size = _chunk_size(session)
    received = patch_chunk(client, session, data[:size], 0, 0)
    gap = received + 10
    skipped = data[gap:gap + size]
    response = client.request("PATCH", session.location, data=skipped,
                              headers={**OCTET, "Content-Range": f"{gap}-{gap + len(skipped) - 1}"})
    client.check(response, 416, f"PATCH a chunk starting at byte {gap} while {received} bytes were received (end-5)")
    client.request("DELETE", session.location)


def _resume_after_416(client: RegistryClient, session: Session, data: bytes, received: int, digest: str,
                      what: str) -> None:
    """After a 416 the session goes on: upload status still reports ``received`` bytes, the missing
    bytes follow from there, and the closing PUT stores the whole blob."""
    status = client.request("GET", session.location)
    client.check(status, 204, f"upload status after {what} (end-13)")
    session.location = client.location(status)
    end = parse_range(client, status, f"upload status after {what}")
    assert end == received - 1, client.explain(status, (), f"upload status after {what}") + \
        f"\n  Range ends at {end}: the refused chunk changed the session ({received} bytes were accepted before it)"
    patch_chunk(client, session, data[received:], received, received)
    close_session(client, session, digest, what=f"closing PUT after {what}")


@rule("end-5", "MUST", "push", "after a chunk refused with 416 the session is still usable: its status shows the "
      "bytes accepted before, and the upload completes from there")
def test_upload_usable_after_416(client: RegistryClient, repo: str, cleanup) -> None:
    session, data, digest = _session_with_blob(client, repo, cleanup, chunks=3)
    size = _chunk_size(session)
    received = patch_chunk(client, session, data[:size], 0, 0)
    gap = received + 10
    response = client.request("PATCH", session.location, data=data[gap:gap + size],
                              headers={**OCTET, "Content-Range": f"{gap}-{gap + size - 1}"})
    client.check(response, 416, f"PATCH a chunk starting at byte {gap} after {received} bytes (end-5)")
    _resume_after_416(client, session, data, received, digest, "a chunk refused with 416")
    assert_blob(client, repo, digest, data)


@rule("end-6", "MUST", "push", "a final chunk in the closing PUT that does not continue at the current offset is "
      "refused with 416, and the session is still usable")
def test_out_of_order_final_chunk_in_closing_put(client: RegistryClient, repo: str, cleanup) -> None:
    session, data, digest = _session_with_blob(client, repo, cleanup, chunks=2)
    received = patch_chunk(client, session, data[:_chunk_size(session)], 0, 0)
    gap = received + 10
    response = client.request("PUT", with_query(session.location, {"digest": digest}), data=data[gap:],
                              headers={**OCTET, "Content-Range": f"{gap}-{len(data) - 1}"})
    client.check(response, 416, f"closing PUT whose chunk starts at byte {gap} after {received} bytes (end-6)")
    assert_no_blob(client, repo, digest, "HEAD the blob after the refused closing PUT")
    _resume_after_416(client, session, data, received, digest, "a closing chunk refused with 416")
    assert_blob(client, repo, digest, data)


@rule("end-13", "MUST", "push", "GET on an active upload answers 204 with Location and Range: 0-<last byte "
      "received>, and the session continues from there")
def test_upload_status(client: RegistryClient, repo: str, cleanup) -> None:
    session, data, digest = _session_with_blob(client, repo, cleanup, chunks=2)
    split = _chunk_size(session)
    received = patch_chunk(client, session, data[:split], 0, 0)
    response = client.request("GET", session.location)
    what = "upload status GET <location> (end-13)"
    client.check(response, 204, what)
    session.location = client.location(response)
    end = parse_range(client, response, what)
    assert end == received - 1, client.explain(response, (), what) + \
        f"\n  Range ends at {end}, but {received} bytes were received (expected 0-{received - 1})"
    received = patch_chunk(client, session, data[split:], received, received)
    close_session(client, session, digest)
    assert_blob(client, repo, digest, data)


@rule("end-14", "MUST", "push", "DELETE <location> cancels the upload (SHOULD answer 204); the cancelled session "
      "is then unknown (upload status 404)")
def test_upload_cancel(client: RegistryClient, repo: str) -> None:
    session = start_session(client, repo)
    data = random_bytes(BLOB_SIZE)
    received = patch_chunk(client, session, data[:CHUNK], 0, 0)
    response = client.request("DELETE", session.location, headers={"Content-Length": "0"})
    if response.status_code == 405 or (response.status_code == 400 and "UNSUPPORTED" in error_codes(response)):
        unsupported(f"cancelling uploads is not supported (DELETE <location> answered {response.status_code})")
    client.check(response, (200, 202, 204), "cancel: DELETE <location> (end-14)")
    should(response.status_code == 204, f"cancel answered {response.status_code}; the spec says 204 No Content")
    status = client.request("GET", session.location)
    assert status.status_code == 404, client.explain(status, (404,), "upload status after cancel (end-13)") + \
        f"\n  the registry accepted the cancel ({response.status_code}) but still reports the session " \
        f"({received} bytes received) as active"
    assert_error_code(client, status, "BLOB_UPLOAD_UNKNOWN", what="upload status after cancel")
    retry = client.request("PUT", with_query(session.location, {"digest": digest_of(data[:CHUNK])}))
    assert retry.status_code != 201, client.explain(retry, (404,), "closing a cancelled upload") + \
        "\n  a cancelled session must not accept a closing PUT"


@rule("end-6", "MUST", "push", "content that does not match the closing digest is refused with 400 "
      "DIGEST_INVALID, in every upload mode, and is not stored under that digest")
def test_digest_mismatch_is_rejected(client: RegistryClient, repo: str, upload_mode: str) -> None:
    data = random_bytes(BLOB_SIZE)
    claimed = digest_of(random_bytes(BLOB_SIZE))
    what = f"{upload_mode} upload closed with the digest of other content"
    if upload_mode == "single":
        response = client.start_upload(repo, {"digest": claimed}, data=data, headers=OCTET)
        if response.status_code == 202:  # single POST not supported: the PUT must refuse the mismatch
            session = Session(client.location(response))
            response = client.request("PUT", with_query(session.location, {"digest": claimed}), data=data,
                                      headers=OCTET)
    else:
        session = start_session(client, repo)
        body: bytes | None = data
        if upload_mode == "streamed":
            patched = client.request("PATCH", session.location, data=data, headers=OCTET)
            if patched.status_code in (400, 405, 416):
                unsupported(f"streamed PATCH without Content-Range answered {patched.status_code}")
            client.check(patched, 202, "streamed PATCH (end-5)")
            session.location = client.location(patched)
            body = None
        elif upload_mode == "chunked":
            received = 0
            for offset, chunk in chunks_of(data, max(CHUNK, session.min_chunk)):
                received = patch_chunk(client, session, chunk, offset, received)
            body = None
        response = client.request("PUT", with_query(session.location, {"digest": claimed}), data=body or b"",
                                  headers=OCTET if body else {})
    client.check(response, 400, what + " (end-6)")
    assert_error_code(client, response, "DIGEST_INVALID", what=what)
    assert_no_blob(client, repo, claimed, f"HEAD the claimed digest after the refused {upload_mode} upload")
    assert_no_blob(client, repo, digest_of(data), f"{upload_mode}: a refused upload SHOULD leave nothing behind",
                   must=False)


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
@rule("end-4c", "MUST", "push", "POST ?digest-algorithm=<alg> opens a session whose blob is addressed by that "
      "algorithm; a registry without sha512 says so with 400 (then unsupported)", doc=OCI_MAIN)
def test_upload_digest_algorithm(client: RegistryClient, repo: str, algorithm: str, cleanup) -> None:
    data = random_bytes(BLOB_SIZE)
    digest = digest_of(data, algorithm)
    response = client.start_upload(repo, {"digest-algorithm": algorithm}, headers={"Content-Length": "0"})
    if response.status_code == 400 and algorithm != "sha256":  # every registry MUST handle sha256
        unsupported(f"{algorithm} uploads not supported: POST ?digest-algorithm={algorithm} answered 400 "
                    f"{error_codes(response) or ''}".strip())
    client.check(response, 202, f"POST ?digest-algorithm={algorithm} (end-4c)")
    session = Session(client.location(response))
    closing = client.request("PUT", with_query(session.location, {"digest": digest}), data=data, headers=OCTET)
    if closing.status_code == 400 and algorithm != "sha256" and \
            set(error_codes(closing)) & {"DIGEST_INVALID", "UNSUPPORTED"}:
        assert_no_blob(client, repo, digest, f"{algorithm} blob after its upload was refused")
        unsupported(f"{algorithm} digests not supported: closing PUT answered 400 {error_codes(closing)}")
    client.check(closing, 201, f"closing PUT ?digest={algorithm}:… (end-6)")
    cleanup.blob(repo, digest)
    assert_blob(client, repo, digest, data, f"GET the {algorithm} blob (end-2)")


@rule("end-11", "MUST", "push", "POST ?mount=<digest>&from=<other> answers 201 with Location and the blob is then "
      "readable in the target repository (202 = mount unsupported, with a usable upload session)")
def test_mount_from_other_repository(client: RegistryClient, repo: str, other_repo: str, cleanup) -> None:
    data = random_bytes(BLOB_SIZE)
    digest = client.push_blob(other_repo, data)
    cleanup.blob(other_repo, digest)
    cleanup.blob(repo, digest)
    response = client.mount_blob(repo, digest, other_repo)
    client.check(response, (201, 202), f"mount from {other_repo} (end-11)")
    if response.status_code == 202:
        session = Session(client.location(response))
        close_session(client, session, digest, data, what="PUT into the session a declined mount opened")
        assert_blob(client, repo, digest, data)
        unsupported("cross-repository mount not supported (202); the upload session it opened worked")
    client.location(response)
    assert_blob(client, repo, digest, data, "GET the mounted blob in the target repository (end-2)")


@rule("end-11", "MAY", "push", "POST ?mount=<digest> without from MAY mount a blob the registry holds (201 then "
      "readable); otherwise it SHOULD answer 202 with a usable upload session")
def test_mount_without_from(client: RegistryClient, repo: str, other_repo: str, cleanup) -> None:
    data = random_bytes(BLOB_SIZE)
    digest = client.push_blob(other_repo, data)
    cleanup.blob(other_repo, digest)
    cleanup.blob(repo, digest)
    response = client.mount_blob(repo, digest)
    if response.status_code == 201:
        client.location(response)
        assert_blob(client, repo, digest, data, "GET the blob mounted without from (end-2)")
        return
    if not should(response.status_code == 202,
                  f"mount without from answered {response.status_code}; a registry that cannot mount SHOULD "
                  "answer 202 and open an upload session"):
        return
    session = Session(client.location(response))
    close_session(client, session, digest, data, what="PUT into the session a declined mount opened")
    assert_blob(client, repo, digest, data)
    unsupported("mount without from not supported (202); the upload session it opened worked")


@rule("end-11", "MUST", "push", "mounting a blob that does not exist is never 201 and the blob stays unknown; a 202 "
      "opens a session that then completes the upload")
def test_mount_of_missing_blob(client: RegistryClient, repo: str, other_repo: str, cleanup) -> None:
    client.push_blob(other_repo, random_bytes(64))  # the source repository exists, the blob does not
    data = random_bytes(BLOB_SIZE)
    missing = digest_of(data)
    response = client.mount_blob(repo, missing, other_repo)
    assert response.status_code != 201, client.explain(response, (202, 404), "mount of a blob nobody pushed") + \
        "\n  201 claims the blob was mounted, but no such blob exists"
    assert_no_blob(client, repo, missing, "HEAD the missing blob after the refused mount")
    if response.status_code == 202:  # the session the declined mount opened finishes the upload
        cleanup.blob(repo, missing)
        close_session(client, Session(client.location(response)), missing, data,
                      what="PUT the blob into the session the declined mount opened (end-6)")
        assert_blob(client, repo, missing, data, "GET the blob uploaded through the declined mount's session")


NAME_EDGES = {"dot": "a.b", "underscore": "a_b", "double-underscore": "a__b", "dash": "a-b", "dashes": "a--b",
              "components": "x/y0/z-1"}


@pytest.mark.parametrize("edge", list(NAME_EDGES))
@rule("end-7a", "MUST", "push", "repository names on the valid edge of the grammar ('.', '_', '__', '-', '--' "
      "separators, several components) are accepted for push and pull")
def test_repository_name_edges_are_accepted(client: RegistryClient, push_image, repo: str, edge: str) -> None:
    name = f"{repo}/{NAME_EDGES[edge]}"
    assert spec.valid_name(name), f"harness built an invalid name {name!r}"
    image = push_image(layer_sizes=(64,), repo=name, tag="edge")
    response = client.get_manifest(name, "edge", accept=image.media_type)
    client.check(response, 200, f"GET /v2/{name}/manifests/edge")
    assert response.content == image.manifest, client.explain(response, (), f"GET from {name}") + \
        "\n  the body differs from the manifest pushed"
    assert_blob(client, name, image.blobs[-1].digest, image.blobs[-1].data, f"GET a blob of {name}")
    listing = client.tags_list(name)
    client.check(listing, 200, f"GET /v2/{name}/tags/list")
    assert "edge" in (listing.json().get("tags") or []), f"GET /v2/{name}/tags/list lacks the tag pushed"


@rule("end-2", "MUST", "push", "a blob pushed to one repository is not served from another one that never "
      "received or mounted it (404 BLOB_UNKNOWN)")
def test_repository_isolation(client: RegistryClient, repo: str, other_repo: str, cleanup) -> None:
    data = random_bytes(BLOB_SIZE)
    digest = client.push_blob(repo, data)
    cleanup.blob(repo, digest)
    own = client.push_blob(other_repo, random_bytes(128))  # the other repository exists
    cleanup.blob(other_repo, own)
    response = client.get_blob(other_repo, digest)
    assert response.status_code == 404, client.explain(
        response, (404,), f"GET from {other_repo} a blob only pushed to {repo}"
    ) + "\n  the blob is not in this repository: it must be pushed or mounted there first"
    assert_error_code(client, response, "BLOB_UNKNOWN", what="blob of another repository")
    head = client.head_blob(other_repo, digest)
    assert head.status_code == 404, client.explain(head, (404,), f"HEAD from {other_repo} a blob of {repo}")
