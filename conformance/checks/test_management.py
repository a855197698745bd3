"""Content management (end-9, end-10): deleting tags, manifests and blobs, and what remains after.

Deletion is optional: a registry that answers 400 or 405 (or 403 for these credentials) to a
DELETE has switched it off, and the check ends as unsupported, never as a failure.
"""

from __future__ import annotations

import secrets

from conformance.rules import rule, should, unsupported
from registry_harness import builders, schemas
from registry_harness.client import RegistryClient
from registry_harness.digests import digest_of

DELETION_OFF = (400, 405)


def new_tag(stem: str) -> str:
    return f"{stem}-{secrets.token_hex(4)}"


def delete(client: RegistryClient, path: str, what: str):
    """DELETE ``path``; 400/405 (deletion disabled) or 403 (not allowed) end the check as unsupported."""
    response = client.request("DELETE", path)
    if response.status_code in DELETION_OFF:
        unsupported(f"{what} answered {response.status_code}: this kind of deletion is disabled on this registry")
    if response.status_code == 403:
        unsupported(f"{what} answered 403: these credentials may not delete")
    return response


def retag(client: RegistryClient, cleanup, repo: str, image: builders.Manifest, *tags: str) -> None:
    for tag in tags:
        client.put_manifest(repo, tag, image.manifest, image.media_type, expect=201)
        cleanup.tag(repo, tag)


def listed_tags(client: RegistryClient, repo: str) -> list[str] | None:
    """Every tag of ``repo`` (all Link pages), or None when the repository is gone (404)."""
    first = client.tags_list(repo)
    if first.status_code == 404:
        return None
    what = f"GET /v2/{repo}/tags/list (end-8a, MUST: the response format)"
    return [tag for page in client.pages(first) for tag in schemas.check("tags-list", page.content, what)["tags"]]


def assert_manifest_gone(client: RegistryClient, repo: str, reference: str, why: str) -> None:
    for method in ("GET", "HEAD"):
        response = client.get_manifest(repo, reference, method=method)
        if response.status_code != 404:
            raise AssertionError(client.explain(response, (404,), f"{method} manifests/{reference} {why}"))
        if method == "GET":
            schemas.expect_error(client.explain, response, 404, ("MANIFEST_UNKNOWN",),
                                 f"GET manifests/{reference} {why}", require_json=False)


@rule("end-9", "MUST", "management",
      "DELETE /v2/<name>/manifests/<tag> answers 202; the tag then answers 404 and leaves the tags list")
def test_delete_tag(client, cleanup, push_image, repo):
    keep, gone = new_tag("keep"), new_tag("gone")
    image = push_image(layer_sizes=(64,), tag=keep)
    retag(client, cleanup, repo, image, gone)

    response = delete(client, client.manifest_path(repo, gone), f"DELETE manifests/{gone}")
    client.check(response, 202, f"DELETE /v2/{repo}/manifests/{gone}")
    assert_manifest_gone(client, repo, gone, "after the tag was deleted")
    tags = listed_tags(client, repo) or []
    assert gone not in tags, f"the deleted tag {gone} is still in the tags list: {tags}"
    still = client.get_manifest(repo, image.digest, accept=image.media_type).status_code
    should(still == 200, f"deleting tag {gone} also removed the manifest it named (GET by digest: {still}); "
                         "the spec only says the tag answers 404, registries normally keep the manifest")
    should(keep in tags, f"deleting tag {gone} also removed the other tag {keep} of the same manifest")


@rule("end-9", "MUST", "management",
      "DELETE by digest answers 202; the digest and every tag naming it then answer 404 and leave the tags list")
def test_delete_manifest_by_digest(client, cleanup, push_image, repo):
    anchor = new_tag("anchor")
    push_image(layer_sizes=(48,), tag=anchor)
    first, second = new_tag("first"), new_tag("second")
    image = push_image(layer_sizes=(64,), tag=first)
    retag(client, cleanup, repo, image, second)

    response = delete(client, client.manifest_path(repo, image.digest), f"DELETE manifests/{image.digest}")
    client.check(response, 202, f"DELETE /v2/{repo}/manifests/{image.digest}")
    assert_manifest_gone(client, repo, image.digest, "after DELETE by digest")
    for tag in (first, second):
        assert_manifest_gone(client, repo, tag, f"after its manifest {image.digest} was deleted")
    tags = listed_tags(client, repo)
    assert tags is not None, f"the tags list of {repo} answers 404 although tag {anchor} still exists"
    stale = sorted({first, second} & set(tags))
    assert not stale, f"tags list still shows {stale} after their manifest was deleted: {tags}"
    assert anchor in tags, f"deleting one manifest removed the unrelated tag {anchor}: {tags}"


@rule("end-10", "MUST", "management", "DELETE /v2/<name>/blobs/<digest> answers 202; the blob then answers 404")
def test_delete_blob(client, cleanup, push_image, repo):
    push_image(layer_sizes=(32,), tag=new_tag("anchor"))  # the repository outlives the deleted blob
    data = builders.random_bytes(777)
    digest = client.push_blob(repo, data)
    cleanup.blob(repo, digest)

    response = delete(client, client.blob_path(repo, digest), f"DELETE blobs/{digest}")
    client.check(response, 202, f"DELETE /v2/{repo}/blobs/{digest}")
    head = client.head_blob(repo, digest)
    assert head.status_code == 404, client.explain(head, (404,), "HEAD the deleted blob")
    got = client.get_blob(repo, digest)
    schemas.expect_error(client.explain, got, 404, "BLOB_UNKNOWN", "GET the deleted blob", require_json=False)


@rule("end-9", "MUST", "management", "DELETE of a manifest that does not exist answers 404 MANIFEST_UNKNOWN")
def test_delete_unknown_manifest_is_manifest_unknown(client, push_image, repo):
    probe = push_image(layer_sizes=(32,), tag=new_tag("probe"))
    response = delete(client, client.manifest_path(repo, probe.digest), "DELETE of an existing manifest")
    client.check(response, 202, "DELETE of an existing manifest (to learn that deletion is on)")

    never = digest_of(secrets.token_bytes(32))
    response = client.delete_manifest(repo, never)
    schemas.expect_error(client.explain, response, 404, "MANIFEST_UNKNOWN",
                         f"DELETE manifests/{never} (never pushed)", require_json=False)


@rule("end-10", "MUST", "management", "DELETE of a blob that does not exist answers 404 (BLOB_UNKNOWN)")
def test_delete_unknown_blob_is_404(client, cleanup, push_image, repo):
    push_image(layer_sizes=(32,), tag=new_tag("anchor"))
    digest = client.push_blob(repo, builders.random_bytes(64))
    cleanup.blob(repo, digest)
    response = delete(client, client.blob_path(repo, digest), "DELETE of an existing blob")
    client.check(response, 202, "DELETE of an existing blob (to learn that deletion is on)")

    never = digest_of(secrets.token_bytes(32))
    response = client.delete_blob(repo, never)
    schemas.expect_error(client.explain, response, 404, "BLOB_UNKNOWN", f"DELETE blobs/{never} (never pushed)",
                         require_json=False)


@rule("end-9", "MUST", "management", "an index deleted by digest answers 404 while its children stay served; the "
      "children are then deleted in turn (202, then 404)")
def test_delete_index_then_children(client, push_index, repo):
    tag = new_tag("index")
    index = push_index(tag=tag)
    response = delete(client, client.manifest_path(repo, index.digest), f"DELETE manifests/{index.digest}")
    client.check(response, 202, f"DELETE the index {index.digest}")
    assert_manifest_gone(client, repo, index.digest, "after the index was deleted")
    assert_manifest_gone(client, repo, tag, "after the index it named was deleted")
    for child in index.children:
        kept = client.get_manifest(repo, child.digest, accept=child.media_type)
        assert kept.status_code == 200 and kept.content == child.manifest, client.explain(
            kept, (200,), f"GET the child {child.digest} after its index was deleted"
        ) + "\n  deleting an index must not take the manifests it lists with it"
    for child in index.children:
        response = client.delete_manifest(repo, child.digest)
        client.check(response, 202, f"DELETE the child {child.digest} of the deleted index")
        assert_manifest_gone(client, repo, child.digest, "after it was deleted")


@rule("docker-catalog", "MAY", "management",
      "after its last manifest is deleted a repository MAY leave _catalog; if still listed it shows no deleted tag")
def test_catalog_after_deleting_the_last_manifest(client, push_image, repo):
    tag = new_tag("only")
    image = push_image(layer_sizes=(32,), tag=tag)
    response = delete(client, client.manifest_path(repo, image.digest), f"DELETE manifests/{image.digest}")
    client.check(response, 202, f"DELETE /v2/{repo}/manifests/{image.digest}")

    first = client.catalog()
    if first.status_code in (401, 403, 404, 405):
        unsupported(f"_catalog answered {first.status_code} (a Docker extension, outside the OCI spec)")
    client.check(first, 200, "GET /v2/_catalog")
    names = [name for page in client.pages(first)
             for name in schemas.check("catalog", page.content, "GET /v2/_catalog")["repositories"]]
    if repo in names:
        tags = listed_tags(client, repo) or []
        assert tag not in tags, f"{repo} is still in _catalog and its tags list still shows the deleted {tag}"
