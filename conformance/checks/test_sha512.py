"""sha512 beyond one upload (end-2, end-4b/c, end-6, end-7a/b, end-9/10, end-11): blobs through every
upload mode, mount, HEAD, Range, delete and a bad digest; a sha512 digest closing a session opened
without ``?digest-algorithm=``; image manifests and indexes pushed, pulled and deleted by their
sha512 digest, with ``?tag=``.

sha512 support is optional: a registry that answers ``POST ?digest-algorithm=sha512`` with 400 does
not offer it, and these checks end as unsupported. Once it accepts a sha512 session, it is held to
the same rules as for sha256.
"""

from __future__ import annotations

import secrets

import pytest

from conformance.rules import OCI_MAIN, rule, should, unsupported
from conformance.steps import (
    OCTET,
    Session,
    assert_blob,
    assert_digest_header,
    assert_error_code,
    assert_no_blob,
    chunks_of,
    close_session,
    error_codes,
    patch_chunk,
    start_session,
)
from registry_harness import builders
from registry_harness.builders import random_bytes
from registry_harness.client import UPLOAD_MODES, RegistryClient, UnexpectedResponse, with_query
from registry_harness.digests import digest_of

SHA512 = {"digest-algorithm": "sha512"}
BLOB_SIZE = 3000
CHUNK = 1024
REFUSALS = ("DIGEST_INVALID", "UNSUPPORTED", "MANIFEST_INVALID")


def sha512_session(client: RegistryClient, repo: str) -> Session:
    """A session opened with ?digest-algorithm=sha512; 400 ends the check as unsupported."""
    response = client.start_upload(repo, SHA512, headers={"Content-Length": "0"})
    if response.status_code == 400:
        unsupported(f"sha512 not supported: POST ?digest-algorithm=sha512 answered 400 {error_codes(response)}")
    client.check(response, 202, "POST ?digest-algorithm=sha512 (end-4c)")
    return Session(client.location(response), 0, response)


def require_sha512(client: RegistryClient, repo: str) -> None:
    """Unsupported unless the registry opens a sha512 session (cancelled again right away)."""
    client.request("DELETE", sha512_session(client, repo).location)


def put_sha512(client: RegistryClient, cleanup, repo: str, content: builders.Manifest,
               tags: tuple[str, ...] = ()) -> object:
    """PUT a sha512-addressed manifest (blobs and children first); a 400 refusing the digest is unsupported."""
    for child in content.children:
        put_sha512(client, cleanup, repo, child)
    for blob in content.blobs:
        push_sha512_blob(client, cleanup, repo, blob.data)
    response = client.put_manifest(repo, content.digest, content.manifest, content.media_type, tags=tags)
    if response.status_code == 400 and set(error_codes(response)) & set(REFUSALS):
        unsupported(f"sha512 manifest digests not supported: PUT answered 400 {error_codes(response)}")
    client.check(response, 201, f"PUT manifests/{content.digest[:19]}…{'?tag=' + tags[0] if tags else ''} (end-7b)")
    cleanup.manifest(repo, content.digest, "index" if content.children else "manifest")
    client.check_reported_digest(response, content.digest, "PUT of a sha512 manifest")
    return response


def push_sha512_blob(client: RegistryClient, cleanup, repo: str, data: bytes) -> str:
    """Upload ``data`` monolithically in a sha512 session; returns its sha512 digest."""
    digest = digest_of(data, "sha512")
    cleanup.blob(repo, digest)
    close_session(client, sha512_session(client, repo), digest, data, what="closing PUT ?digest=sha512:… (end-6)")
    return digest


@pytest.mark.parametrize("mode", UPLOAD_MODES)
@rule("end-6", "MUST", "push", "a sha512 blob uploaded monolithically, by single POST, streamed or in chunks is "
      "stored and served by its sha512 digest")
def test_sha512_blob_upload(client: RegistryClient, cleanup, repo: str, mode: str) -> None:
    session = sha512_session(client, repo)  # also learns whether sha512 is supported at all
    data = random_bytes(BLOB_SIZE)
    digest = digest_of(data, "sha512")
    cleanup.blob(repo, digest)
    if mode == "single":
        client.request("DELETE", session.location)
        response = client.start_upload(repo, {"digest": digest}, data=data, headers=OCTET)
        client.check(response, (201, 202), "single POST ?digest=sha512:… with the whole blob (end-4b)")
        if response.status_code == 202:
            close_session(client, Session(client.location(response)), digest, data,
                          what="PUT after a single POST answered 202 (end-6)")
        else:
            client.check_reported_digest(response, digest, "single POST ?digest=sha512:…")
    elif mode == "monolithic":
        close_session(client, session, digest, data, what="monolithic PUT ?digest=sha512:… (end-6)")
    elif mode == "streamed":
        response = client.request("PATCH", session.location, data=data, headers=OCTET)
        if response.status_code in (400, 405, 416):
            unsupported(f"streamed PATCH without Content-Range answered {response.status_code}")
        client.check(response, 202, "streamed PATCH in a sha512 session (end-5)")
        session.location = client.location(response)
        close_session(client, session, digest)
    else:
        received = 0
        for offset, chunk in chunks_of(data, CHUNK):
            received = patch_chunk(client, session, chunk, offset, received)
        close_session(client, session, digest)
    assert_blob(client, repo, digest, data, f"GET the sha512 blob after a {mode} upload (end-2)")


@rule("end-2", "MUST", "pull", "HEAD and Range of a sha512 blob: Content-Length and Docker-Content-Digest of the "
      "blob, exactly the bytes asked for")
def test_sha512_blob_head_and_range(client: RegistryClient, cleanup, repo: str) -> None:
    data = random_bytes(BLOB_SIZE)
    digest = push_sha512_blob(client, cleanup, repo, data)
    head = client.head_blob(repo, digest)
    client.check(head, 200, "HEAD the sha512 blob (end-2)")
    length = head.headers.get("Content-Length")
    assert length is not None and length.strip() == str(len(data)), client.explain(head, (), "HEAD sha512 blob") + \
        f"\n  Content-Length {length!r}, the blob has {len(data)} bytes"
    assert_digest_header(client, head, digest, "HEAD the sha512 blob", data)
    response = client.get_blob(repo, digest, headers={"Range": "bytes=100-199"})
    client.check(response, (200, 206), "GET the sha512 blob with Range: bytes=100-199")
    if response.status_code == 200:
        assert response.content == data, "a 200 answer to a Range request must carry the whole blob"
        should(False, "Range requests SHOULD be supported: the sha512 blob was sent whole (200)")
        return
    assert response.content == data[100:200], client.explain(response, (), "Range of the sha512 blob") + \
        f"\n  206 carries {len(response.content)} bytes that are not bytes 100-199"


@rule("end-11", "MUST", "push", "a sha512 blob mounted from another repository (201) is then readable there; "
      "202 = mount unsupported, with a usable session")
def test_sha512_blob_mount(client: RegistryClient, cleanup, repo: str, other_repo: str) -> None:
    data = random_bytes(BLOB_SIZE)
    digest = push_sha512_blob(client, cleanup, other_repo, data)
    cleanup.blob(repo, digest)
    response = client.mount_blob(repo, digest, other_repo)
    client.check(response, (201, 202), f"mount the sha512 blob from {other_repo} (end-11)")
    if response.status_code == 202:
        close_session(client, Session(client.location(response)), digest, data,
                      what="PUT into the session a declined mount opened")
        assert_blob(client, repo, digest, data)
        unsupported("cross-repository mount not supported (202); the upload session it opened worked")
    assert_blob(client, repo, digest, data, "GET the mounted sha512 blob (end-2)")


@rule("end-10", "MUST", "management", "DELETE of a sha512 blob answers 202 and the blob then answers 404")
def test_sha512_blob_delete(client: RegistryClient, cleanup, repo: str) -> None:
    digest = push_sha512_blob(client, cleanup, repo, random_bytes(700))
    response = client.delete_blob(repo, digest)
    if response.status_code in (400, 403, 405):
        unsupported(f"DELETE of a blob answered {response.status_code}: deletion is disabled")
    client.check(response, 202, f"DELETE blobs/{digest[:19]}… (end-10)")
    assert_no_blob(client, repo, digest, "HEAD the deleted sha512 blob")


@rule("end-6", "MUST", "push", "a sha512 session closed with the sha512 digest of other content is refused with 400 "
      "DIGEST_INVALID and stores nothing")
def test_sha512_bad_digest(client: RegistryClient, repo: str) -> None:
    session = sha512_session(client, repo)
    data = random_bytes(BLOB_SIZE)
    claimed = digest_of(random_bytes(BLOB_SIZE), "sha512")
    response = client.request("PUT", with_query(session.location, {"digest": claimed}), data=data, headers=OCTET)
    client.check(response, 400, "sha512 session closed with the digest of other content (end-6)")
    assert_error_code(client, response, "DIGEST_INVALID", what="sha512 digest mismatch")
    assert_no_blob(client, repo, claimed, "HEAD the claimed sha512 digest after the refusal")


@rule("end-6", "MUST", "push", "a session opened without ?digest-algorithm= and closed with a sha512 digest either "
      "verifies it (201, served by that digest; other content refused) or refuses it with 400")
def test_sha512_closes_plain_session(client: RegistryClient, cleanup, repo: str) -> None:
    require_sha512(client, repo)
    data = random_bytes(BLOB_SIZE)
    forged = digest_of(random_bytes(BLOB_SIZE), "sha512")
    lying = client.request("PUT", with_query(start_session(client, repo).location, {"digest": forged}), data=data,
                           headers=OCTET)
    assert lying.status_code != 201, client.explain(lying, (400,), "plain session closed with a wrong sha512 digest") \
        + "\n  the registry stored content under a sha512 digest it does not hash to"
    assert_no_blob(client, repo, forged, "HEAD the wrong sha512 digest")
    digest = digest_of(data, "sha512")
    cleanup.blob(repo, digest)
    response = client.request("PUT", with_query(start_session(client, repo).location, {"digest": digest}), data=data,
                              headers=OCTET)
    if response.status_code == 400 and set(error_codes(response)) & {"DIGEST_INVALID", "UNSUPPORTED"}:
        assert_no_blob(client, repo, digest, "HEAD the refused sha512 digest")
        unsupported("a sha512 digest closes only sessions opened with ?digest-algorithm=sha512 (400 otherwise)")
    client.check(response, 201, "plain session closed with the blob's sha512 digest (end-6)")
    client.check_reported_digest(response, digest, "plain session closed with sha512")
    assert_blob(client, repo, digest, data, "GET the blob by its sha512 digest")


def sha512_content(kind: str) -> builders.Manifest:
    if kind == "image":
        return builders.build_image((300, 200), algorithm="sha512")
    children = [builders.build_image((128,), algorithm="sha512"), builders.build_image((96,), algorithm="sha512")]
    return builders.build_index(children, algorithm="sha512")


@pytest.mark.parametrize("kind", ["image", "index"])
@rule("end-7b", "MUST", "manifests", "an image manifest or index addressed by sha512 is pushed by that digest (with "
      "?tag=), pulled byte for byte by digest and tag, and deleted by that digest", doc=OCI_MAIN)
def test_sha512_manifest(client: RegistryClient, cleanup, repo: str, kind: str) -> None:
    require_sha512(client, repo)  # a registry without sha512 says so here
    content = sha512_content(kind)
    tag = f"sha512-{kind}-{secrets.token_hex(3)}"
    response = put_sha512(client, cleanup, repo, content, (tag,))
    cleanup.tag(repo, tag)
    references = [content.digest]
    tagged = client.get_manifest(repo, tag, accept=content.media_type)
    if tagged.status_code == 200 or tag in (response.headers.get("OCI-Tag") or ""):
        references.append(tag)  # ?tag= is honoured (a registry MAY ignore it, then no OCI-Tag)
    for reference in references:
        pulled = client.get_manifest(repo, reference, accept=content.media_type)
        client.check(pulled, 200, f"GET the sha512 {kind} by {reference[:19]}")
        assert pulled.content == content.manifest, client.explain(pulled, (), f"GET the sha512 {kind}") + \
            "\n  the body differs from the manifest pushed"
        assert_digest_header(client, pulled, content.digest, f"GET the sha512 {kind}", content.manifest)
    deleted = client.delete_manifest(repo, content.digest)
    if deleted.status_code in (400, 403, 405):
        unsupported(f"DELETE of a manifest answered {deleted.status_code}: deletion is disabled (push and pull passed)")
    client.check(deleted, 202, f"DELETE the sha512 {kind} by its digest (end-9)")
    gone = client.get_manifest(repo, content.digest, accept=content.media_type)
    assert gone.status_code == 404, client.explain(gone, (404,), f"GET the deleted sha512 {kind}")
    try:
        client.get_manifest(repo, tag, accept=content.media_type, expect=404)
    except UnexpectedResponse as exc:
        raise AssertionError(f"{exc}\n  the tag still names the deleted sha512 {kind}") from None
