"""Manifests (end-3, end-7a/b): every media type round-trips byte for byte, PUT answers, limits,
invalid input, tags given on a PUT by digest, and ``subject`` handling.
"""

from __future__ import annotations

import secrets

import pytest

from conformance.rules import OCI_MAIN, rule, should, unsupported, write_refused
from registry_harness import builders, schemas, spec
from registry_harness.client import RegistryClient, UnexpectedResponse
from registry_harness.digests import digest_of

ARTIFACT_TYPE = "application/vnd.registry-harness.example+json"
CONFIG_ARTIFACT_TYPE = "application/vnd.registry-harness.config.example+json"
FOUR_MIB = 4 * 1024 * 1024
OVERSIZED = 16 * 1024 * 1024 + 4096
TAG_REJECTIONS = ("TAG_INVALID", "MANIFEST_INVALID", "NAME_INVALID")


# -- helpers ---------------------------------------------------------------------------------------

def refused_write_is_unsupported(response) -> None:
    """End the check as unsupported when a write was refused as such (read-only registry)."""
    reason = write_refused(response)
    if reason:
        unsupported(reason)

def new_tag(stem: str = "t") -> str:
    return f"{stem}-{secrets.token_hex(4)}"


def media_type_of(response) -> str:
    return (response.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()


def assert_served_exactly(client: RegistryClient, repo: str, reference: str, image: builders.Manifest) -> None:
    """GET the manifest by ``reference``: 200, the exact bytes, its media type, a matching digest header."""
    what = f"GET /v2/{repo}/manifests/{reference}"
    response = client.get_manifest(repo, reference, accept=image.media_type, expect=200)
    if response.content != image.manifest:
        raise AssertionError(
            f"{what}: body differs from the {image.size} bytes pushed (got {len(response.content)} bytes, "
            f"digest {digest_of(response.content)}; pushed {image.digest}); a registry MUST store and serve "
            "the exact bytes"
        )
    assert media_type_of(response) == image.media_type, (
        f"{what}: Content-Type is {response.headers.get('Content-Type')!r}, expected the manifest's media type "
        f"{image.media_type!r}"
    )
    header = response.headers.get("Docker-Content-Digest")
    assert header in (None, image.digest), f"{what}: Docker-Content-Digest {header} is not the content's {image.digest}"


def push_blobs(client: RegistryClient, cleanup, repo: str, image: builders.Manifest) -> None:
    """Upload the blobs of ``image`` (not its manifest), registering them for cleanup."""
    for blob in image.blobs:
        if client.head_blob(repo, blob.digest).status_code != 200:
            client.push_blob(repo, blob.data, algorithm=blob.algorithm)
        cleanup.blob(repo, blob.digest)


def put(client: RegistryClient, cleanup, repo: str, reference: str, image: builders.Manifest, **kw):
    """PUT a manifest (no status assertion) and register whatever got stored for cleanup."""
    response = client.put_manifest(repo, reference, image.manifest, image.media_type, **kw)
    refused_write_is_unsupported(response)
    if response.status_code == 201:
        cleanup.manifest(repo, image.digest, "referrer" if image.subject else "manifest")
        if not spec.looks_like_digest(reference):
            cleanup.tag(repo, reference)
    return response


def oci_tags(response) -> list[str]:
    """Tags named by the ``OCI-Tag`` headers (repeated headers and/or comma-separated lists)."""
    raw = response.raw.headers.getlist("OCI-Tag") if hasattr(response.raw, "headers") else []
    values = raw or ([response.headers["OCI-Tag"]] if "OCI-Tag" in response.headers else [])
    return [t.strip() for value in values for t in value.split(",") if t.strip()]


def referrers_supported(client: RegistryClient, repo: str, subject_digest: str) -> bool:
    """True unless the referrers endpoint answers 404 for an existing subject (API not implemented)."""
    return client.referrers(repo, subject_digest).status_code != 404


# -- every media type --------------------------------------------------------------------------------

KINDS = (
    "oci-manifest", "oci-index", "docker-schema2", "docker-manifest-list",
    "artifact-type", "artifact-config-media-type", "no-layers", "empty-blob",
)


def push_kind(kind: str, tag: str, push_image, push_index, push_artifact) -> builders.Manifest:
    if kind == "oci-manifest":
        return push_image(fmt="oci", layer_sizes=(300, 200), tag=tag)
    if kind == "oci-index":
        return push_index(fmt="oci", tag=tag, annotations={"org.registry-harness.kind": kind})
    if kind == "docker-schema2":
        return push_image(fmt="docker", layer_sizes=(300, 200), tag=tag)
    if kind == "docker-manifest-list":
        return push_index(fmt="docker", tag=tag)
    if kind == "artifact-type":
        return push_artifact(ARTIFACT_TYPE, tag=tag, annotations={"org.registry-harness.kind": kind})
    if kind == "artifact-config-media-type":
        return push_artifact(CONFIG_ARTIFACT_TYPE, tag=tag, config_style="config")
    if kind == "no-layers":
        return push_image(fmt="oci", layer_sizes=(), tag=tag)
    if kind == "empty-blob":
        return push_image(fmt="oci", layer_sizes=(0,), tag=tag)
    raise ValueError(kind)


@pytest.mark.parametrize("kind", KINDS)
@rule("end-7a", "MUST", "manifests",
      "a pushed manifest of any media type is served by tag and by digest byte for byte, with its media type")
def test_manifest_round_trip(client, push_image, push_index, push_artifact, repo, kind):
    tag = new_tag(kind)
    try:
        image = push_kind(kind, tag, push_image, push_index, push_artifact)
    except UnexpectedResponse as exc:
        refused_write_is_unsupported(exc.response)
        raise AssertionError(f"pushing a {kind} manifest was refused:\n{exc}") from None
    if image.media_type == spec.OCI_MANIFEST:
        schemas.validate("oci-manifest", image.json(), f"the {kind} test manifest")  # the harness's own input
    assert_served_exactly(client, repo, tag, image)
    assert_served_exactly(client, repo, image.digest, image)


# -- the PUT answer ----------------------------------------------------------------------------------

@rule("end-7a", "MUST", "manifests",
      "PUT by tag answers 201 with a Location to pull it, and Docker-Content-Digest equal to the content digest")
def test_manifest_put_answers_location_and_digest(client, cleanup, repo):
    image = builders.build_image((128,))
    push_blobs(client, cleanup, repo, image)
    tag = new_tag()

    response = put(client, cleanup, repo, tag, image)
    client.check(response, 201, f"PUT /v2/{repo}/manifests/{tag}")
    header = response.headers.get("Docker-Content-Digest")
    if should(header, "PUT manifest answered without Docker-Content-Digest"):
        assert header == image.digest, (
            f"PUT manifest: Docker-Content-Digest {header} differs from the digest of the bytes sent {image.digest}"
        )
    location = client.location(response)
    pulled = client.request("GET", location, headers={"Accept": image.media_type}, expect=200)
    assert pulled.content == image.manifest, f"GET Location {location} does not return the manifest just pushed"


@rule("end-7a", "MUST", "manifests", "PUT by digest answers 201 and the manifest is then served by that digest")
def test_manifest_put_by_digest(client, cleanup, repo):
    image = builders.build_image((128,))
    push_blobs(client, cleanup, repo, image)

    response = put(client, cleanup, repo, image.digest, image)
    client.check(response, 201, f"PUT /v2/{repo}/manifests/{image.digest}")
    header = response.headers.get("Docker-Content-Digest")
    assert header in (None, image.digest), f"PUT by digest: Docker-Content-Digest {header} is not {image.digest}"
    assert_served_exactly(client, repo, image.digest, image)


# -- size limits -------------------------------------------------------------------------------------

@rule("end-7a", "SHOULD", "manifests",
      "a registry SHOULD accept manifests of at least 4 MB (and then serve them exactly)")
def test_manifest_of_four_megabytes_is_accepted(client, cleanup, repo):
    image = builders.large_manifest(FOUR_MIB)
    push_blobs(client, cleanup, repo, image)
    tag = new_tag("large")

    response = put(client, cleanup, repo, tag, image)
    assert response.status_code < 500, client.explain(response, (201,), f"PUT a {image.size}-byte manifest")
    if not should(response.status_code == 201,
                  f"a {image.size}-byte manifest was refused with {response.status_code}; registries SHOULD "
                  "accept manifests of at least 4 MB"):
        return
    assert_served_exactly(client, repo, tag, image)


@rule("end-7a", "SHOULD", "manifests",
      "a manifest over the registry's limit is refused with 413; if accepted, it MUST be served byte for byte")
def test_oversized_manifest_is_refused_with_413_or_kept_exactly(client, cleanup, repo):
    image = builders.large_manifest(OVERSIZED)
    push_blobs(client, cleanup, repo, image)
    tag = new_tag("oversized")

    response = put(client, cleanup, repo, tag, image)
    if response.status_code == 201:
        assert_served_exactly(client, repo, tag, image)
        return
    assert 400 <= response.status_code < 500, client.explain(response, (413, 201), f"PUT a {image.size}-byte manifest")
    should(response.status_code == 413,
           f"a {image.size}-byte manifest was refused with {response.status_code}; over the limit the answer "
           "SHOULD be 413 Payload Too Large")
    assert client.get_manifest(repo, tag).status_code == 404, f"the refused oversized manifest is served under {tag}"


# -- invalid input -----------------------------------------------------------------------------------

@rule("end-7a", "MAY", "manifests",
      "a manifest naming blobs the repository lacks MAY be refused (400 MANIFEST_BLOB_UNKNOWN) or accepted; "
      "once accepted (201) it MUST be served")
def test_manifest_with_missing_blobs(client, cleanup, repo):
    image = builders.build_image((128,))
    tag = new_tag("missing-blobs")

    response = put(client, cleanup, repo, tag, image)
    if response.status_code == 201:
        assert_served_exactly(client, repo, tag, image)
        return
    codes = schemas.expect_error(client.explain, response, 400, ("MANIFEST_BLOB_UNKNOWN", "MANIFEST_INVALID"),
                                 "PUT a manifest whose blobs were never pushed", require_json=False)
    should("MANIFEST_INVALID" not in codes,
           "missing blobs were reported as MANIFEST_INVALID; the spec's code for this is MANIFEST_BLOB_UNKNOWN")


@rule("end-7a", "MUST", "manifests", "a body that is not valid JSON is refused with 400 MANIFEST_INVALID")
def test_invalid_json_manifest_is_manifest_invalid(client, repo):
    tag = new_tag("broken-json")
    body = b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": {'

    response = client.put_manifest(repo, tag, body, spec.OCI_MANIFEST)
    refused_write_is_unsupported(response)
    schemas.expect_error(client.explain, response, 400, "MANIFEST_INVALID", "PUT a truncated JSON manifest",
                         require_json=False)
    assert client.get_manifest(repo, tag).status_code == 404, f"the invalid manifest is served under {tag}"


@rule("end-7a", "MUST", "manifests", "PUT to a digest that does not match the body is refused with 400 DIGEST_INVALID")
def test_digest_mismatch_is_digest_invalid(client, cleanup, repo):
    image = builders.build_image((128,))
    push_blobs(client, cleanup, repo, image)
    wrong = digest_of(image.manifest + b" ")

    response = put(client, cleanup, repo, wrong, image)
    schemas.expect_error(client.explain, response, 400, "DIGEST_INVALID",
                         "PUT a manifest to a digest that is not its own", require_json=False)
    for reference in (wrong, image.digest):
        status = client.get_manifest(repo, reference, accept=image.media_type).status_code
        assert status == 404, f"after the refused PUT, GET manifests/{reference} answers {status}, expected 404"


@pytest.mark.parametrize("bad_tag", ["-leading-dash", "x" * 129], ids=["leading-dash", "129-chars"])
@rule("end-7a", "MUST", "manifests",
      "a tag outside [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127} is refused with a 4xx and not stored"
      " (a 400 names TAG_INVALID / MANIFEST_INVALID)")
def test_invalid_tag_is_refused(client, cleanup, push_image, repo, bad_tag):
    image = push_image(layer_sizes=(64,), tag=new_tag())

    response = client.put_manifest(repo, bad_tag, image.manifest, image.media_type)
    refused_write_is_unsupported(response)
    if response.status_code == 201:
        cleanup.tag(repo, bad_tag)
    assert 400 <= response.status_code < 500, client.explain(response, (400,), f"PUT manifest under tag {bad_tag!r}")
    # Neither spec names the status for a tag outside the grammar; 404 (no such route, as Distribution
    # answers) is one of end-7's failure statuses. Only a 400 is held to the error codes.
    if response.status_code == 400:
        schemas.expect_error(client.explain, response, 400, TAG_REJECTIONS, f"PUT under tag {bad_tag!r}",
                             require_json=False)
    listing = client.tags_list(repo)
    if listing.status_code == 200:
        tags = schemas.check("tags-list", listing.content, "GET tags/list")["tags"]
        assert bad_tag not in tags, f"the invalid tag {bad_tag!r} appears in the tags list"


VALID_TAG_EDGES = {"128-chars": "L" + "o" * 126 + "g", "separators": "_Ab.9-z__.-x"}


@pytest.mark.parametrize("edge", list(VALID_TAG_EDGES))
@rule("end-7a", "MUST", "manifests", "tags on the valid edge of [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127} (128 characters, "
      "leading _, . and - inside) are accepted, served and listed")
def test_valid_tag_edges_are_accepted(client, cleanup, push_image, repo, edge):
    tag = VALID_TAG_EDGES[edge]
    assert spec.valid_tag(tag), f"harness built an invalid tag {tag!r}"
    image = push_image(layer_sizes=(64,), tag=new_tag())
    response = put(client, cleanup, repo, tag, image)
    client.check(response, 201, f"PUT manifest under the valid tag {tag!r} ({len(tag)} characters)")
    assert_served_exactly(client, repo, tag, image)
    listed = {t for page in client.pages(client.tags_list(repo, expect=200))
              for t in schemas.check("tags-list", page.content, "GET tags/list")["tags"]}
    assert tag in listed, f"the valid tag {tag!r} is served but missing from the tags list"


@rule("end-7a", "MUST", "manifests", "a manifest PUT framed with Transfer-Encoding: chunked (no Content-Length) is "
      "accepted like any other (HTTP/1.1) and served byte for byte")
def test_manifest_put_chunked_transfer(client, cleanup, repo):
    image = builders.build_image((128,))
    push_blobs(client, cleanup, repo, image)
    tag = new_tag("chunked")
    response = client.put_manifest(repo, tag, iter([image.manifest[:100], image.manifest[100:]]), image.media_type)
    refused_write_is_unsupported(response)
    assert "Content-Length" not in response.request.headers, "harness error: the PUT was not sent chunked"
    client.check(response, 201, f"PUT manifests/{tag} with Transfer-Encoding: chunked")
    cleanup.manifest(repo, image.digest)
    cleanup.tag(repo, tag)
    client.check_reported_digest(response, image.digest, "chunked manifest PUT")
    assert_served_exactly(client, repo, tag, image)


MALFORMED_DIGEST = "sha256:not-a-digest"


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE"])
@rule("end-3", "MUST", "manifests", "a malformed digest as manifest reference (manifests/sha256:not-a-digest) is a "
      "client error: PUT 400, GET/HEAD/DELETE 400 or 404, never 500")
def test_malformed_digest_reference(client, cleanup, push_image, repo, method):
    image = push_image(layer_sizes=(64,), tag=new_tag())  # the repository exists
    path = client.manifest_path(repo, MALFORMED_DIGEST)
    if method == "PUT":
        response = client.request("PUT", path, data=image.manifest, headers={"Content-Type": image.media_type})
        refused_write_is_unsupported(response)
        statuses: tuple[int, ...] = (400,)
    else:
        response = client.request(method, path, headers={"Accept": image.media_type})
        statuses = (400, 404)
    if method == "DELETE" and response.status_code == 405:
        unsupported("DELETE of manifests answered 405: deletion is disabled")
    schemas.expect_error(client.explain, response, statuses,
                         ("DIGEST_INVALID", "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "TAG_INVALID", "NAME_INVALID"),
                         f"{method} manifests/{MALFORMED_DIGEST}", require_json=False)
    assert client.get_manifest(repo, image.digest, accept=image.media_type).status_code == 200, \
        f"after {method} manifests/{MALFORMED_DIGEST} the repository's manifest {image.digest} is gone"


# -- tags on a PUT by digest (end-7b) ----------------------------------------------------------------

@rule("end-7b", "MUST", "manifests",
      "PUT by digest with ?tag= creates those tags and names each in an OCI-Tag header (when supported)",
      doc=OCI_MAIN)
def test_put_by_digest_with_tag_parameters(client, cleanup, repo):
    image = builders.build_image((128,))
    push_blobs(client, cleanup, repo, image)
    wanted = [new_tag("a"), new_tag("b")]

    response = put(client, cleanup, repo, image.digest, image, tags=wanted)
    client.check(response, 201, f"PUT /v2/{repo}/manifests/{image.digest}?tag=…")
    for tag in wanted:
        cleanup.tag(repo, tag)
    announced = oci_tags(response)
    created = {tag: client.get_manifest(repo, tag, accept=image.media_type) for tag in wanted}
    if not announced and all(r.status_code == 404 for r in created.values()):
        unsupported("the registry ignores ?tag= on a PUT by digest (no OCI-Tag header, no tags created)")
    assert sorted(announced) == sorted(wanted), (
        f"OCI-Tag headers name {announced}, expected one per accepted tag {wanted}; a registry that supports "
        "?tag= MUST include an OCI-Tag header for each tag"
    )
    for tag, got in created.items():
        assert got.status_code == 200 and got.content == image.manifest, (
            client.explain(got, (200,), f"GET the tag {tag} created by ?tag=") + "\n  (announced in OCI-Tag)"
        )


# -- subject -----------------------------------------------------------------------------------------

@rule("end-7a", "MUST", "manifests", "a manifest whose subject does not exist (yet) is accepted")
def test_manifest_with_missing_subject_is_accepted(client, cleanup, repo):
    absent = builders.build_image((64,))
    artifact = builders.build_artifact(ARTIFACT_TYPE, subject=absent, annotations={"org.registry-harness.n": "1"})
    push_blobs(client, cleanup, repo, artifact)

    response = put(client, cleanup, repo, artifact.digest, artifact)
    if response.status_code != 201:
        raise AssertionError(
            client.explain(response, (201,), "PUT an artifact whose subject was never pushed")
            + "\n  the registry MUST accept a subject that does not exist"
        )
    assert_served_exactly(client, repo, artifact.digest, artifact)


@pytest.mark.parametrize("by", ["digest", "tag"])
@rule("end-7a", "MUST", "manifests",
      "a registry with the referrers API answers a PUT carrying subject (by digest or by tag) with "
      "OCI-Subject: <subject digest>")
def test_put_with_subject_answers_oci_subject(client, cleanup, push_image, repo, by):
    subject = push_image(layer_sizes=(64,))
    artifact = builders.build_artifact(ARTIFACT_TYPE, subject=subject)
    push_blobs(client, cleanup, repo, artifact)

    response = put(client, cleanup, repo, artifact.digest if by == "digest" else new_tag("referrer"), artifact)
    client.check(response, 201, "PUT an artifact with a subject")
    header = response.headers.get("OCI-Subject")
    if header is None:
        if not referrers_supported(client, repo, subject.digest):
            unsupported("no referrers API (404), so no OCI-Subject header is expected")
        raise AssertionError(
            "PUT with subject answered without OCI-Subject, yet the registry serves the referrers API; "
            f"expected OCI-Subject: {subject.digest}"
        )
    assert header == subject.digest, f"OCI-Subject is {header}, expected the subject's digest {subject.digest}"


# -- tags move ---------------------------------------------------------------------------------------

@rule("end-7a", "MUST", "manifests", "the same manifest PUT under a second tag is served under both")
def test_same_manifest_under_a_second_tag(client, cleanup, push_image, repo):
    first = new_tag("first")
    image = push_image(layer_sizes=(64,), tag=first)
    second = new_tag("second")

    response = put(client, cleanup, repo, second, image)
    client.check(response, 201, f"PUT the same manifest under {second}")
    assert_served_exactly(client, repo, first, image)
    assert_served_exactly(client, repo, second, image)
    listed = {tag for page in client.pages(client.tags_list(repo, expect=200))
              for tag in schemas.check("tags-list", page.content, "GET tags/list")["tags"]}
    assert {first, second} <= listed, f"tags list lacks {sorted({first, second} - listed)}"


@rule("end-7a", "MUST", "manifests", "PUT of a new manifest under an existing tag moves the tag to it")
def test_tag_overwritten_by_a_new_manifest(client, push_image, repo):
    tag = new_tag("moving")
    old = push_image(layer_sizes=(64,), tag=tag)
    new = push_image(layer_sizes=(96,), tag=tag)
    assert old.digest != new.digest

    response = client.get_manifest(repo, tag, accept=new.media_type, expect=200)
    assert response.content == new.manifest, (
        f"GET manifests/{tag} after re-tagging serves {digest_of(response.content)}, expected the new "
        f"manifest {new.digest} (the old one was {old.digest})"
    )
    header = response.headers.get("Docker-Content-Digest")
    assert header in (None, new.digest), f"Docker-Content-Digest {header} after re-tagging, expected {new.digest}"

