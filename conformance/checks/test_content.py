"""Content kinds (end-7a, end-3, end-12a): one check body over many data sets, as the OCI suite and
Quay do: nested and empty indexes, an artifact index, an artifact whose only layer is the empty
descriptor, an index as referrer and as subject, the descriptor ``data`` field, non-distributable
layers whose blobs live elsewhere (``urls``, never pushed) and unknown custom fields. Each is pushed
(children and blobs first), served by tag and by digest byte for byte, and found by HEAD.
"""

from __future__ import annotations

import secrets

import pytest

from conformance.fixtures import push_tree
from conformance.rules import rule, unsupported, write_refused
from conformance.steps import error_codes
from registry_harness import builders
from registry_harness.client import RegistryClient, UnexpectedResponse

# Kinds a registry MAY refuse: a non-distributable layer names a blob the repository lacks, and the
# registry MAY refuse manifests whose blobs are missing (400 MANIFEST_BLOB_UNKNOWN).
MAY_REFUSE_MISSING_BLOBS = ("non-distributable-layer",)
REFERRING_KINDS = ("index-as-referrer", "index-as-subject")


def push_kind(client: RegistryClient, cleanup, repo: str, kind: str, tag: str) -> builders.Manifest:
    """Build and push one data set; a valid refusal ends the check as unsupported."""
    content = builders.CONTENT_KINDS[kind]()
    try:
        return push_tree(client, cleanup, repo, content, tag)
    except UnexpectedResponse as exc:
        response = exc.response
        if response is not None and write_refused(response):
            unsupported(write_refused(response) or "")
        if response is not None and kind in MAY_REFUSE_MISSING_BLOBS and response.status_code == 400 and \
                "MANIFEST_BLOB_UNKNOWN" in error_codes(response):
            unsupported(f"{kind}: the registry refuses manifests naming blobs it lacks (MANIFEST_BLOB_UNKNOWN), "
                        "which it MAY do")
        raise


def assert_served(client: RegistryClient, repo: str, reference: str, content: builders.Manifest, what: str) -> None:
    response = client.get_manifest(repo, reference, accept=content.media_type)
    client.check(response, 200, f"GET {what} by {reference}")
    assert response.content == content.manifest, client.explain(response, (), f"GET {what} by {reference}") + \
        f"\n  the body differs from the {content.size} bytes pushed; manifests are stored byte for byte"
    content_type = (response.headers.get("Content-Type") or "").split(";", 1)[0].strip()
    assert content_type == content.media_type, client.explain(response, (), f"GET {what}") + \
        f"\n  Content-Type {content_type!r}, pushed as {content.media_type}"


@pytest.mark.parametrize("kind", list(builders.CONTENT_KINDS))
@rule("end-7a", "MUST", "manifests", "every kind of content (nested and empty index, artifact index, empty-descriptor "
      "layer, index as referrer or subject, descriptor data, non-distributable layer, custom fields) round-trips "
      "byte for byte by tag and by digest")
def test_content_round_trip(client: RegistryClient, cleanup, repo: str, kind: str) -> None:
    tag = f"{kind}-{secrets.token_hex(3)}"
    content = push_kind(client, cleanup, repo, kind, tag)
    assert_served(client, repo, tag, content, kind)
    assert_served(client, repo, content.digest, content, kind)
    head = client.get_manifest(repo, content.digest, accept=content.media_type, method="HEAD")
    client.check(head, 200, f"HEAD the {kind} by digest")
    for child in content.children:
        assert_served(client, repo, child.digest, child, f"a manifest the {kind} names")


@pytest.mark.parametrize("kind", REFERRING_KINDS)
@rule("end-12a", "MUST", "referrers", "an index that names a subject is listed among the subject's referrers, and "
      "an index can itself be a subject")
def test_content_referrers(client: RegistryClient, cleanup, repo: str, kind: str) -> None:
    content = push_kind(client, cleanup, repo, kind, f"{kind}-{secrets.token_hex(3)}")
    subject = str((content.subject or {}).get("digest"))
    response = client.referrers(repo, subject)
    if response.status_code == 404:
        unsupported("GET /v2/<name>/referrers/<digest> answers 404 for a subject with a referrer: no referrers API")
    client.check(response, 200, f"GET referrers of the {kind}'s subject")
    listed = {d.get("digest"): d for d in response.json().get("manifests", []) if isinstance(d, dict)}
    assert content.digest in listed, client.explain(response, (), f"GET referrers of {subject}") + \
        f"\n  the {kind} ({content.digest}) names this subject but is not listed"
    descriptor = listed[content.digest]
    assert descriptor.get("mediaType") == content.media_type and descriptor.get("size") == content.size, \
        f"the {kind}'s referrer descriptor {descriptor} does not describe it " \
        f"({content.media_type}, {content.size} bytes)"
    assert descriptor.get("artifactType") == builders.CONTENT_ARTIFACT_TYPE, \
        f"the {kind}'s referrer descriptor has artifactType {descriptor.get('artifactType')!r}, " \
        f"expected {builders.CONTENT_ARTIFACT_TYPE!r}"
