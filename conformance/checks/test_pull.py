"""Pull checks: blobs by GET/HEAD/Range, manifests of every kind by tag and digest (end-2, end-3)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

from conformance.rules import rule, should, unsupported
from conformance.steps import assert_digest_header, assert_error_code, raw_head, read_body
from registry_harness import builders, spec
from registry_harness.builders import random_bytes
from registry_harness.client import RegistryClient, with_query
from registry_harness.digests import digest_of

BLOB_SIZE = 3000
TAG = "pull-check"


def _media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def _content_length(client: RegistryClient, response, size: int, what: str, required: bool) -> None:
    """Content-Length must equal the stored size (required on HEAD; on GET when present: a GET framed
    with Transfer-Encoding: chunked is valid HTTP and draws no warning, as no rule asks for more)."""
    value = response.headers.get("Content-Length")
    if value is None:
        assert not required, client.explain(response, (), what) + "\n  no Content-Length header"
        return
    assert value.strip() == str(size), client.explain(response, (), what) + \
        f"\n  Content-Length {value} but the stored object has {size} bytes"


# -- blobs -------------------------------------------------------------------------------------

@pytest.fixture
def blob(client: RegistryClient, repo: str, cleanup) -> tuple[str, bytes]:
    data = random_bytes(BLOB_SIZE)
    digest = client.push_blob(repo, data)
    cleanup.blob(repo, digest)
    return digest, data


@rule("end-2", "MUST", "pull", "GET /v2/<name>/blobs/<digest> answers 200 with exactly the blob's bytes, a matching "
      "Content-Length and Docker-Content-Digest")
def test_blob_get(client: RegistryClient, repo: str, blob: tuple[str, bytes]) -> None:
    digest, data = blob
    response = client.get_blob(repo, digest, stream=True)
    what = "GET blob (end-2)"
    client.check(response, 200, what)
    read_body(client, response, what)
    assert digest_of(response.content) == digest, client.explain(response, (), what) + \
        f"\n  the body ({len(response.content)} bytes) hashes to {digest_of(response.content)}, not {digest}"
    _content_length(client, response, len(data), what, required=False)
    assert_digest_header(client, response, digest, what)


@rule("end-2", "MUST", "pull", "HEAD /v2/<name>/blobs/<digest> answers 200 with Content-Length and "
      "Docker-Content-Digest of the blob, and no body")
def test_blob_head(client: RegistryClient, repo: str, blob: tuple[str, bytes]) -> None:
    digest, data = blob
    what = "HEAD blob (end-2)"
    response = client.head_blob(repo, digest)
    client.check(response, 200, what)
    _content_length(client, response, len(data), what, required=True)
    assert_digest_header(client, response, digest, what)
    status, body = raw_head(client, client.blob_path(repo, digest))
    assert status == 200 and not body, f"{what}: a raw HEAD received status {status} and {len(body)} body " \
        f"bytes after the headers ({body[:60]!r}); a HEAD answer must not have a body"


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
@rule("end-2", "MUST", "pull", "a zero-byte blob is stored and served: HEAD and GET answer 200 with Content-Length: 0 "
      "and its digest")
def test_zero_byte_blob(client: RegistryClient, repo: str, algorithm: str, cleanup) -> None:
    digest = digest_of(b"", algorithm)
    params = {"digest-algorithm": algorithm} if algorithm != "sha256" else None
    opened = client.start_upload(repo, params, headers={"Content-Length": "0"})
    if opened.status_code == 400 and algorithm != "sha256":
        unsupported(f"{algorithm} not supported: POST ?digest-algorithm={algorithm} answered 400")
    client.check(opened, 202, f"POST an upload for the empty {algorithm} blob (end-4a)")
    cleanup.blob(repo, digest)
    closing = client.request("PUT", with_query(client.location(opened), {"digest": digest}), data=b"",
                             headers={"Content-Type": "application/octet-stream", "Content-Length": "0"})
    client.check(closing, 201, f"closing PUT ?digest={digest[:19]}… with no content (end-6)")
    client.check_reported_digest(closing, digest, "closing the zero-byte upload")
    for method in ("HEAD", "GET"):
        what = f"{method} the zero-byte {algorithm} blob (end-2)"
        response = client.request(method, client.blob_path(repo, digest))
        client.check(response, 200, what)
        _content_length(client, response, 0, what, required=method == "HEAD")
        assert not response.content, client.explain(response, (), what) + \
            f"\n  {len(response.content)} body bytes for a blob of none"
        assert_digest_header(client, response, digest, what, b"")


RANGES = {
    "first-last": ("bytes=100-199", slice(100, 200)),
    "open-ended": (f"bytes={BLOB_SIZE - 300}-", slice(BLOB_SIZE - 300, BLOB_SIZE)),
    "suffix": ("bytes=-100", slice(BLOB_SIZE - 100, BLOB_SIZE)),
    # a last byte past the end is cut at the blob's last byte (RFC 9110 14.1.2)
    "past-end": (f"bytes={BLOB_SIZE - 50}-{BLOB_SIZE + 500}", slice(BLOB_SIZE - 50, BLOB_SIZE)),
}
UNSATISFIABLE = {
    "beyond-end": f"bytes={BLOB_SIZE + 100}-{BLOB_SIZE + 200}",
    "last-before-first": "bytes=200-100",
}


def _range_ignored(client: RegistryClient, response: requests.Response, data: bytes, what: str, how: str) -> None:
    """A 200 to a Range request: it must carry the whole blob; Range support is a SHOULD, so an
    ignored Range is a warning (never "unsupported": the registry gave no "not supported" answer)."""
    assert response.content == data, client.explain(response, (), what) + \
        "\n  a 200 answer to a Range request must carry the whole blob"
    should(False, f"Range requests SHOULD be supported: {how}")


@pytest.mark.parametrize("kind", list(RANGES))
@rule("end-2", "MUST", "pull", "a Range request (support is a SHOULD) is answered 206 with exactly those bytes and "
      "Content-Range, or ignored with the full 200 body")
def test_blob_range(client: RegistryClient, repo: str, blob: tuple[str, bytes], kind: str) -> None:
    digest, data = blob
    header, part = RANGES[kind]
    expected = data[part]
    what = f"GET blob with Range: {header} (end-2, RFC 9110)"
    response = client.get_blob(repo, digest, headers={"Range": header}, stream=True)
    client.check(response, (200, 206), what)
    read_body(client, response, what)
    if response.status_code == 200:
        _range_ignored(client, response, data, what, f"{header} answered 200 with the whole blob")
        return
    assert response.content == expected, client.explain(response, (), what) + \
        f"\n  206 carries {len(response.content)} bytes that are not bytes {part.start}-{part.stop - 1} of the blob"
    content_range = response.headers.get("Content-Range", "")
    wanted = f"bytes {part.start}-{part.stop - 1}/{len(data)}"
    assert content_range.replace("/*", f"/{len(data)}") == wanted, client.explain(response, (), what) + \
        f"\n  Content-Range {content_range!r}, expected {wanted!r}"
    _content_length(client, response, len(expected), what, required=False)


@pytest.mark.parametrize("kind", list(UNSATISFIABLE))
@rule("end-2", "MUST", "pull", "a Range beyond the end of the blob, or whose last byte precedes its first, is "
      "answered 416 (or ignored with the full 200 body), never 206")
def test_blob_range_unsatisfiable(client: RegistryClient, repo: str, blob: tuple[str, bytes], kind: str) -> None:
    digest, data = blob
    header = UNSATISFIABLE[kind]
    what = f"GET blob with the unsatisfiable Range: {header}"
    response = client.get_blob(repo, digest, headers={"Range": header}, stream=True)
    client.check(response, (416, 200), what)
    read_body(client, response, what)
    if response.status_code == 200:
        _range_ignored(client, response, data, what, "an unsatisfiable range answered 200 with the whole blob")
        return
    should(response.headers.get("Content-Range", "").strip() == f"bytes */{len(data)}",
           f"416 SHOULD carry Content-Range: bytes */{len(data)} (got {response.headers.get('Content-Range')!r})")


@rule("end-2", "MUST", "pull", "GET and HEAD of a blob the repository does not hold answer 404 (BLOB_UNKNOWN)")
def test_blob_unknown(client: RegistryClient, repo: str, blob: tuple[str, bytes]) -> None:
    missing = digest_of(random_bytes(64))
    response = client.get_blob(repo, missing)
    client.check(response, 404, "GET an unknown blob (end-2)")
    assert_error_code(client, response, "BLOB_UNKNOWN", what="GET an unknown blob")
    client.check(client.head_blob(repo, missing), 404, "HEAD an unknown blob (end-2)")


# -- manifests ---------------------------------------------------------------------------------

def _docker_images() -> list[builders.Manifest]:
    return [builders.build_image((200,), "docker"), builders.build_image((300,), "docker")]


KINDS: dict[str, Callable[[], builders.Manifest]] = {
    "oci-manifest": lambda: builders.build_image((512, 256), "oci"),
    "oci-index": lambda: builders.build_index([builders.build_image((200,)), builders.build_image((300,))]),
    "docker-manifest": lambda: builders.build_image((512, 256), "docker"),
    "docker-manifest-list": lambda: builders.build_index(_docker_images(), "docker"),
    "artifact": lambda: builders.build_artifact("application/vnd.registry-harness.pull-check+json",
                                                annotations={"org.opencontainers.image.title": "pull-check"}),
}


@pytest.fixture(params=list(KINDS))
def manifest(request: pytest.FixtureRequest, client: RegistryClient, repo: str, cleanup) -> builders.Manifest:
    """One manifest of each kind, pushed under TAG (children and blobs first)."""
    from conformance.fixtures import push_tree

    return push_tree(client, cleanup, repo, KINDS[request.param](), TAG)


@pytest.mark.parametrize("by", ["tag", "digest"])
@rule("end-3", "MUST", "pull", "GET /v2/<name>/manifests/<ref> answers 200 with the stored bytes, Content-Type = the "
      "pushed media type, and Docker-Content-Digest = the digest of those bytes")
def test_manifest_get(client: RegistryClient, repo: str, manifest: builders.Manifest, by: str) -> None:
    reference = TAG if by == "tag" else manifest.digest
    what = f"GET manifest by {by} with Accept: {manifest.media_type} (end-3)"
    response = client.get_manifest(repo, reference, accept=manifest.media_type)
    client.check(response, 200, what)
    assert response.content == manifest.manifest, client.explain(response, (), what) + \
        f"\n  the body ({len(response.content)} bytes, {digest_of(response.content)}) is not the manifest " \
        f"pushed ({manifest.size} bytes, {manifest.digest}); manifests are stored byte for byte"
    content_type = response.headers.get("Content-Type")
    assert _media_type(content_type) == manifest.media_type, client.explain(response, (), what) + \
        f"\n  Content-Type {content_type!r}, but the manifest was pushed as {manifest.media_type}"
    assert_digest_header(client, response, manifest.digest, what)
    _content_length(client, response, manifest.size, what, required=False)


@pytest.mark.parametrize("by", ["tag", "digest"])
@rule("end-3", "MUST", "pull", "HEAD /v2/<name>/manifests/<ref> answers 200 with Content-Length and "
      "Docker-Content-Digest of the stored manifest, and no body")
def test_manifest_head(client: RegistryClient, repo: str, manifest: builders.Manifest, by: str) -> None:
    reference = TAG if by == "tag" else manifest.digest
    what = f"HEAD manifest by {by} (end-3)"
    response = client.get_manifest(repo, reference, accept=manifest.media_type, method="HEAD")
    client.check(response, 200, what)
    _content_length(client, response, manifest.size, what, required=True)
    assert_digest_header(client, response, manifest.digest, what)
    should(_media_type(response.headers.get("Content-Type")) == manifest.media_type,
           f"{what}: Content-Type {response.headers.get('Content-Type')!r}, pushed as {manifest.media_type}")
    status, body = raw_head(client, client.manifest_path(repo, reference), accept=manifest.media_type)
    assert status == 200 and not body, f"{what}: a raw HEAD received status {status} and {len(body)} body " \
        f"bytes after the headers ({body[:60]!r}); a HEAD answer must not have a body"


@rule("end-3", "MUST", "pull", "content negotiation: with an Accept listing every manifest type (as container "
      "clients send) the stored manifest comes back unchanged, with its own media type")
def test_manifest_content_negotiation(client: RegistryClient, repo: str, manifest: builders.Manifest) -> None:
    accept = ", ".join([*spec.MANIFEST_MEDIA_TYPES[:4], f"{spec.DOCKER_MANIFEST_V1_SIGNED};q=0.5"])
    what = "GET manifest by tag with an Accept listing every manifest type (end-3)"
    response = client.get_manifest(repo, TAG, accept=accept)
    client.check(response, 200, what)
    assert _media_type(response.headers.get("Content-Type")) == manifest.media_type, \
        client.explain(response, (), what) + \
        f"\n  Content-Type {response.headers.get('Content-Type')!r}, pushed as {manifest.media_type}"
    assert response.content == manifest.manifest, client.explain(response, (), what) + \
        "\n  the body differs from the manifest pushed"
    assert_digest_header(client, response, manifest.digest, what)


@rule("end-3", "MUST", "pull", "GET and HEAD of a manifest that does not exist answer 404 (MANIFEST_UNKNOWN)")
def test_manifest_unknown(client: RegistryClient, repo: str, push_image) -> None:
    push_image(tag="present")
    for reference in ("absent-tag", digest_of(random_bytes(32))):
        response = client.get_manifest(repo, reference)
        client.check(response, 404, f"GET unknown manifest {reference} (end-3)")
        assert_error_code(client, response, "MANIFEST_UNKNOWN", what=f"GET unknown manifest {reference}")
        client.check(client.get_manifest(repo, reference, method="HEAD"), 404,
                     f"HEAD unknown manifest {reference} (end-3)")
