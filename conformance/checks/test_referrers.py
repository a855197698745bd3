"""Referrers API (end-12a/b): an OCI index of exactly the manifests whose ``subject`` is a digest,
with their artifactType and annotations, filtered by ``?artifactType=``, paged by ``Link``.

A registry without the API answers 404 for a subject that has referrers; those checks then end
as unsupported. Once the API is known to be there, a 404 is a failure.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import urljoin

import pytest

from conformance.fixtures import push_tree
from conformance.rules import rule, should, unsupported
from registry_harness import builders, schemas, spec
from registry_harness.client import PageTrail, RegistryClient, parse_link_header
from registry_harness.digests import digest_of

SBOM = "application/vnd.registry-harness.sbom.v1+json"
SIGNATURE = "application/vnd.registry-harness.signature.v1+json"
ATTESTATION_CONFIG = "application/vnd.registry-harness.attestation.config.v1+json"
MAX_PAGES = 100


@dataclass
class Referred:
    """A subject image and the manifests pushed with it as their subject."""

    subject: builders.Manifest
    referrers: list[builders.Manifest]

    def expected(self) -> dict[str, dict]:
        """digest → the descriptor the referrers API must list for it."""
        out = {}
        for manifest in self.referrers:
            body = manifest.json()
            artifact_type = body.get("artifactType") or body["config"]["mediaType"]
            out[manifest.digest] = {
                "mediaType": manifest.media_type, "digest": manifest.digest, "size": manifest.size,
                "artifactType": artifact_type, "annotations": body.get("annotations") or {},
            }
        return out


def require_referrers_api(client: RegistryClient, repo: str, subject: builders.Manifest) -> None:
    """Unsupported unless GET referrers of a subject that has referrers answers something other than 404."""
    response = client.referrers(repo, subject.digest)
    if response.status_code == 404:
        unsupported("GET /v2/<name>/referrers/<digest> answers 404 for a subject with referrers: "
                    "the registry does not offer the referrers API (clients fall back to the tag schema)")


def referred(push_image, push_artifact, client: RegistryClient, repo: str) -> Referred:
    """Push a subject, learn whether the referrers API exists, then push four referrers of it:
    two artifacts with artifactType, one typed by its config mediaType, one plain image."""
    subject = push_image(layer_sizes=(128,))
    unique = secrets.token_hex(4)
    first = push_artifact(SBOM, subject=subject,
                          annotations={"org.registry-harness.role": "sbom", "org.registry-harness.run": unique,
                                       "org.opencontainers.image.created": "2024-01-01T00:00:00Z"})
    require_referrers_api(client, repo, subject)
    others = [
        push_artifact(SIGNATURE, subject=subject, annotations={"org.registry-harness.role": "signature"}),
        push_artifact(ATTESTATION_CONFIG, subject=subject, config_style="config",
                      annotations={"org.registry-harness.role": "attestation"}),
        push_image(layer_sizes=(32,), subject=subject, annotations={"org.registry-harness.role": "image"}),
    ]
    return Referred(subject, [first, *others])


def index_pages(client: RegistryClient, first, what: str) -> list[dict]:
    """Every page of a referrers answer (following Link), each checked: 200, OCI index type, schema."""
    pages = []
    response = first
    trail = PageTrail(first)
    for number in range(1, MAX_PAGES + 1):
        label = f"{what} (page {number})"
        client.check(response, 200, label)
        content_type = (response.headers.get("Content-Type") or "").split(";", 1)[0].strip()
        assert content_type == spec.OCI_INDEX, (
            f"{label}: Content-Type is {response.headers.get('Content-Type')!r}, the referrers API MUST answer "
            f"{spec.OCI_INDEX}"
        )
        pages.append(schemas.check("oci-index", response.content, label))
        nxt = next((link for link in parse_link_header(response.headers.get("Link")) if link.rel == "next"), None)
        if nxt is None:
            return pages
        trail.follow(urljoin(response.url, nxt.url), number, response)
        response = client.request("GET", urljoin(response.url, nxt.url))
        if response.status_code == 200:
            trail.arrived(response, number + 1)
    raise AssertionError(f"{what}: more than {MAX_PAGES} pages; the Link header never ends")


def descriptors(pages: list[dict]) -> list[dict]:
    return [d for page in pages for d in page["manifests"]]


def assert_exactly(found: list[dict], expected: dict[str, dict], what: str) -> None:
    """The descriptors are exactly ``expected`` (by digest, once each) with matching fields."""
    digests = [d["digest"] for d in found]
    repeats = sorted({d for d in digests if digests.count(d) > 1})
    assert not repeats, f"{what} lists {repeats} more than once"
    missing = [f"{d} (artifactType {e['artifactType']})" for d, e in expected.items() if d not in digests]
    assert not missing, f"{what} lacks the referrers {missing}; it lists {digests}"
    extra = sorted(set(digests) - set(expected))
    assert not extra, f"{what} lists {extra}, which do not name this subject (or were not asked for)"
    for descriptor in found:
        want = expected[descriptor["digest"]]
        for field in ("mediaType", "size", "artifactType"):
            assert descriptor.get(field) == want[field], (
                f"{what}: descriptor {descriptor['digest']} has {field} {descriptor.get(field)!r}, expected "
                f"{want[field]!r}" + (" (the config mediaType, as the manifest has no artifactType)"
                                      if field == "artifactType" and want[field] == ATTESTATION_CONFIG else "")
            )
        annotations = descriptor.get("annotations") or {}
        lost = {k: v for k, v in want["annotations"].items() if annotations.get(k) != v}
        assert not lost, f"{what}: descriptor {descriptor['digest']} lacks the manifest's annotations {lost}"


def filters_applied(response) -> set[str]:
    return {f.strip() for f in (response.headers.get("OCI-Filters-Applied") or "").split(",") if f.strip()}


@rule("end-12a", "MUST", "referrers",
      "GET /v2/<name>/referrers/<digest> answers 200, an OCI index listing every referrer with its "
      "artifactType and annotations")
def test_referrers_list_every_referrer(client, push_image, push_artifact, repo):
    setup = referred(push_image, push_artifact, client, repo)

    what = f"GET /v2/{repo}/referrers/{setup.subject.digest}"
    pages = index_pages(client, client.referrers(repo, setup.subject.digest), what)
    assert_exactly(descriptors(pages), setup.expected(), what)


@pytest.mark.parametrize("artifact_type", [SBOM, ATTESTATION_CONFIG], ids=["artifact-type", "config-media-type"])
@rule("end-12b", "MUST", "referrers",
      "?artifactType= filters: with OCI-Filters-Applied: artifactType only matching referrers; without it, "
      "the complete unfiltered list (filtering itself is a SHOULD)")
def test_referrers_filter_by_artifact_type(client, push_image, push_artifact, repo, artifact_type):
    setup = referred(push_image, push_artifact, client, repo)
    expected = setup.expected()

    response = client.referrers(repo, setup.subject.digest, artifact_type=artifact_type)
    what = f"GET /v2/{repo}/referrers/{setup.subject.digest}?artifactType={artifact_type}"
    found = descriptors(index_pages(client, response, what))
    if "artifactType" in filters_applied(response):
        matching = {d: e for d, e in expected.items() if e["artifactType"] == artifact_type}
        assert_exactly(found, matching, what + " (OCI-Filters-Applied: artifactType)")
        return
    should(False, "the registry does not filter referrers by artifactType (no OCI-Filters-Applied header)")
    assert_exactly(found, expected, what + " without OCI-Filters-Applied, so it must be the unfiltered list")


@rule("end-12a", "MUST", "referrers", "referrers of a digest nothing refers to: 200 with an empty index, never 404")
def test_referrers_of_unknown_subject_is_empty_index(client, push_image, push_artifact, repo):
    unknown = digest_of(secrets.token_bytes(32))
    response = client.referrers(repo, unknown)
    if response.status_code == 404:
        subject = push_image(layer_sizes=(32,))
        push_artifact(SBOM, subject=subject)
        require_referrers_api(client, repo, subject)
        raise AssertionError(
            client.explain(response, (200,), f"GET referrers of {unknown} (nothing refers to it)")
            + "\n  the registry serves the referrers API, so it MUST answer 200 with an empty index, not 404"
        )
    pages = index_pages(client, response, f"GET /v2/{repo}/referrers/{unknown}")
    assert descriptors(pages) == [], f"referrers of a digest nothing refers to lists {descriptors(pages)}"


@rule("end-12a", "MUST", "referrers", "referrers in a repository that does not exist, of a subject never pushed: "
      "200 with an empty index (a registry with the referrers API never answers them 404)")
def test_referrers_in_unknown_repository_is_empty_index(client, push_image, push_artifact, repo):
    subject = push_image(layer_sizes=(32,))
    push_artifact(SBOM, subject=subject)
    require_referrers_api(client, repo, subject)  # the API exists: learnt in a repository that does

    nowhere = f"{repo}-never-pushed-{secrets.token_hex(4)}"
    unknown = digest_of(secrets.token_bytes(32))
    what = f"GET /v2/{nowhere}/referrers/{unknown} (repository never created)"
    pages = index_pages(client, client.referrers(nowhere, unknown), what)
    assert descriptors(pages) == [], f"{what} lists {descriptors(pages)}"


@rule("end-12a", "MUST", "referrers", "referrers of a subject that was never pushed list the manifests naming it "
      "(a subject need not exist)")
def test_referrers_of_subject_never_pushed(client, push_artifact, repo):
    absent = builders.build_image((48,))
    artifact = push_artifact(SBOM, subject=absent, annotations={"org.registry-harness.role": "orphan"})
    require_referrers_api(client, repo, absent)

    what = f"GET /v2/{repo}/referrers/{absent.digest} (subject never pushed)"
    expected = Referred(absent, [artifact]).expected()
    assert_exactly(descriptors(index_pages(client, client.referrers(repo, absent.digest), what)), expected, what)


@rule("end-12a", "MUST", "referrers", "referrers are per repository: the same subject pushed to two repositories "
      "lists in each only the referrers pushed there")
def test_referrers_are_per_repository(client, cleanup, push_artifact, repo, other_repo):
    subject = push_tree(client, cleanup, repo, builders.build_image((64,)))
    push_tree(client, cleanup, other_repo, subject)  # the same subject digest in both repositories
    mine = push_artifact(SBOM, subject=subject, annotations={"org.registry-harness.repo": "first"})
    require_referrers_api(client, repo, subject)
    theirs = push_artifact(SIGNATURE, subject=subject, repo=other_repo,
                           annotations={"org.registry-harness.repo": "second"})

    for name, own in ((repo, mine), (other_repo, theirs)):
        what = f"GET /v2/{name}/referrers/{subject.digest}"
        found = descriptors(index_pages(client, client.referrers(name, subject.digest), what))
        assert_exactly(found, Referred(subject, [own]).expected(), what + " (referrers of the other repository "
                       "must not appear)")


@rule("end-12a", "MUST", "referrers", "a referrers request with a malformed digest answers 400")
def test_referrers_with_malformed_digest_is_400(client, push_image, push_artifact, repo):
    subject = push_image(layer_sizes=(32,))
    push_artifact(SBOM, subject=subject)
    require_referrers_api(client, repo, subject)

    response = client.request("GET", f"/v2/{repo}/referrers/sha256:not-a-digest")
    codes = schemas.expect_error(client.explain, response, 400, schemas_codes_any(),
                                 "GET referrers/sha256:not-a-digest", require_json=False)
    should(not codes or "DIGEST_INVALID" in codes, f"a malformed digest was reported as {codes}, not DIGEST_INVALID")


@rule("end-12a", "MUST", "referrers",
      "when referrers span several answers, Link rel=next leads through all of them, each listed once")
def test_referrers_pages_cover_every_referrer_once(client, push_image, push_artifact, repo):
    setup = referred(push_image, push_artifact, client, repo)

    # n is not in the spec for referrers; registries that page honour it, others ignore it.
    first = client.request("GET", f"/v2/{repo}/referrers/{setup.subject.digest}", params={"n": "1"})
    pages = index_pages(client, first, f"GET /v2/{repo}/referrers/{setup.subject.digest}?n=1")
    assert_exactly(descriptors(pages), setup.expected(), f"referrers walked over {len(pages)} page(s)")


@rule("end-12a", "MUST", "referrers", "a deleted referrer leaves the referrers list of its subject")
def test_deleted_referrer_leaves_the_list(client, push_image, push_artifact, repo):
    setup = referred(push_image, push_artifact, client, repo)
    gone = setup.referrers[1]

    response = client.delete_manifest(repo, gone.digest)
    if response.status_code in (400, 403, 405):
        unsupported(f"DELETE of a manifest answered {response.status_code}: deletion is disabled")
    client.check(response, 202, f"DELETE /v2/{repo}/manifests/{gone.digest}")
    expected = {d: e for d, e in setup.expected().items() if d != gone.digest}
    what = f"GET referrers of {setup.subject.digest} after deleting the referrer {gone.digest}"
    assert_exactly(descriptors(index_pages(client, client.referrers(repo, setup.subject.digest), what)),
                   expected, what)


def schemas_codes_any() -> tuple[str, ...]:
    """Any spec error code: the spec names the status (400) for a malformed digest, not the code."""
    return tuple(sorted(spec.ERROR_CODES))
