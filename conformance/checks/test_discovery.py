"""Content discovery: the tags list (end-8a/b) and the Docker ``_catalog``.

Every check pushes its own uniquely named tags, takes the registry's complete list as the
reference, and judges each page (``n``, ``last``, ``Link``) against it, so the checks also hold
on a shared repository (OCI_REPO1) that carries other tags.
"""

from __future__ import annotations

import secrets
from urllib.parse import urljoin

import pytest

from conformance.rules import docker_rule, rule, should, unsupported
from registry_harness import schemas, spec
from registry_harness.client import PageTrail, RegistryClient, parse_link_header

# Seven tags whose lexical order differs from the order they are pushed in.
TAG_STEMS = ("v10", "v9", "latest", "1.0", "1.0.1", "alpha", "beta-2")
MAX_WALK_PAGES = 500
CATALOG_UNSUPPORTED = (401, 403, 404, 405)


# -- helpers ---------------------------------------------------------------------------------------

class WalkTooLong(AssertionError):
    """Following Link did not end within MAX_WALK_PAGES pages."""


def unique_tags(stems: tuple[str, ...] = TAG_STEMS) -> list[str]:
    """Tags for one check, unique to it even on a shared repository."""
    suffix = secrets.token_hex(3)
    return [f"{stem}-{suffix}" for stem in stems]


def push_tagged(client: RegistryClient, push_image, cleanup, repo: str, tags: list[str]):
    """Push one small image under the first tag, then PUT the same manifest under the others."""
    image = push_image(repo=repo, tag=tags[0], layer_sizes=(64,))
    for tag in tags[1:]:
        client.put_manifest(repo, tag, image.manifest, image.media_type, expect=201)
        cleanup.tag(repo, tag)
    return image


def page_tags(client: RegistryClient, response, what: str) -> list[str]:
    """The ``tags`` of one tags-list answer, after checking status 200 and the schema."""
    client.check(response, 200, what)
    return schemas.check("tags-list", response.content, what)["tags"]


def next_link(response) -> str | None:
    """The absolute URL of ``Link: <…>; rel="next"``, or None; a Link without rel=next fails."""
    value = response.headers.get("Link")
    if not value:
        return None
    links = parse_link_header(value)
    nxt = next((link for link in links if link.rel == "next"), None)
    assert nxt is not None, (
        f"GET {response.url}: Link header {value!r} is not an RFC 5988 link with rel=\"next\" "
        "(the spec requires that form whenever Link is present)"
    )
    return urljoin(response.url, nxt.url)


def walk(client: RegistryClient, first, key: str, schema: str, what: str, stop=None) -> tuple[list[str], int]:
    """Follow ``Link`` from ``first`` to the end (or until ``stop(items)``); return the items and page count."""
    items: list[str] = []
    response = first
    trail = PageTrail(first)
    for page in range(1, MAX_WALK_PAGES + 1):
        client.check(response, 200, f"{what} page {page}")
        items += schemas.check(schema, response.content, f"{what} page {page}")[key]
        url = next_link(response)
        if url is None or (stop is not None and stop(items)):
            return items, page
        trail.follow(url, page, response)
        response = client.request("GET", url)
        if response.status_code == 200:
            trail.arrived(response, page + 1)
    raise WalkTooLong(f"{what}: still more pages after {MAX_WALK_PAGES}; the Link header never ends")


def all_tags(client: RegistryClient, repo: str) -> list[str]:
    """The repository's complete tag list as the registry reports it (every Link page)."""
    items, _ = walk(client, client.tags_list(repo), "tags", "tags-list", f"GET /v2/{repo}/tags/list")
    return items


def is_lexical(items: list[str]) -> bool:
    """True when ``items`` are in ASCII order or in case-insensitive order (the spec allows both)."""
    pairs = list(zip(items, items[1:], strict=False))
    return all(a <= b for a, b in pairs) or all(a.lower() <= b.lower() for a, b in pairs)


def repeated(items: list[str]) -> list[str]:
    seen: set[str] = set()
    return sorted({x for x in items if x in seen or seen.add(x)})  # type: ignore[func-returns-value]


def catalog(client: RegistryClient, **params):
    """GET /v2/_catalog; a 401/403/404/405 ends the check as unsupported (it is not in OCI scope)."""
    response = client.catalog(**params)
    if response.status_code in CATALOG_UNSUPPORTED:
        unsupported(f"_catalog answered {response.status_code}; the catalog is a Docker extension, "
                    "outside the OCI Distribution Spec")
    client.check(response, 200, "GET /v2/_catalog")
    return response


def predecessor(name: str) -> str | None:
    """A valid repository name that sorts just before ``name`` (a prefix of it), or None."""
    candidate = name[:-1]
    while candidate and not spec.valid_name(candidate):
        candidate = candidate[:-1]
    return candidate or None


# -- tags list ---------------------------------------------------------------------------------------

@rule("end-8a", "MUST", "discovery",
      "GET /v2/<name>/tags/list answers 200 {name, tags} with every tag, in lexical order")
def test_tags_list_is_complete_and_in_lexical_order(client, push_image, cleanup, repo):
    ours = unique_tags((*TAG_STEMS, "Zeta", "_under"))
    push_tagged(client, push_image, cleanup, repo, ours)

    response = client.tags_list(repo)
    client.check(response, 200, f"GET /v2/{repo}/tags/list")
    body = schemas.check("tags-list", response.content, f"GET /v2/{repo}/tags/list")
    assert body["name"] == repo, f"tags list names repository {body['name']!r}, expected {repo!r}"

    tags = all_tags(client, repo)
    missing = sorted(set(ours) - set(tags))
    assert not missing, f"tags list lacks pushed tags {missing}; listed: {tags}"
    assert not repeated(tags), f"tags list repeats {repeated(tags)}: {tags}"
    assert is_lexical(tags), (
        f"tags are not in lexical order (neither ASCII nor case-insensitive): {tags}\n"
        f"  expected for example {sorted(tags)}"
    )


@rule("end-8b", "MUST", "discovery", "?n=<int> returns the first n tags; fewer only when no more exist or Link is sent")
def test_tags_list_n_limits_the_count(client, push_image, cleanup, repo):
    push_tagged(client, push_image, cleanup, repo, unique_tags())
    full = all_tags(client, repo)

    response = client.tags_list(repo, n=3)
    page = page_tags(client, response, "GET tags/list?n=3")
    assert len(page) <= 3, f"?n=3 returned {len(page)} tags (n was ignored): {page}"
    assert page == full[:len(page)], f"?n=3 must start at the beginning of the list {full[:3]}, got {page}"
    if len(page) < 3:
        docker_rule(response.headers.get("Link"),
                    f"?n=3 returned only {len(page)} tags of {len(full)} and no Link header; fewer than n are "
                    "allowed only when no more tags exist or a Link header is provided")


@rule("end-8b", "MUST", "discovery", "?last=<tag> starts the list just after that tag (exclusive), with or without n")
def test_tags_list_last_is_exclusive(client, push_image, cleanup, repo):
    ours = unique_tags()
    push_tagged(client, push_image, cleanup, repo, ours)
    full = all_tags(client, repo)
    last = sorted(ours)[2]
    after = full[full.index(last) + 1:]

    response = client.tags_list(repo, n=2, last=last)
    page = page_tags(client, response, f"GET tags/list?n=2&last={last}")
    assert last not in page, f"?last={last} must exclude that tag itself, got {page}"
    assert len(page) <= 2, f"?n=2&last=… returned {len(page)} tags (n was ignored): {page}"
    assert page == after[:len(page)], (
        f"?n=2&last={last} must continue with the tags after it {after[:2]}, got {page} (last ignored?)"
    )
    if len(page) < min(2, len(after)):
        docker_rule(response.headers.get("Link"),
                    f"?n=2&last={last} returned {page} though {after[:2]} remain, no Link")

    alone = page_tags(client, client.tags_list(repo, last=last), f"GET tags/list?last={last}")
    assert alone and alone == after[:len(alone)], (
        f"?last={last} without n must list the tags after it {after}, got {alone}"
    )


@rule("end-8b", "MUST", "discovery", "?n=0 returns an empty list and no Link header")
def test_tags_list_n_zero_is_empty_without_link(client, push_image, cleanup, repo):
    push_tagged(client, push_image, cleanup, repo, unique_tags()[:3])

    response = client.tags_list(repo, n=0)
    page = page_tags(client, response, "GET tags/list?n=0")
    assert page == [], f"?n=0 must return an empty list, got {page}"
    assert not response.headers.get("Link"), (
        f"?n=0 must not carry a Link header, got Link: {response.headers.get('Link')}"
    )


@rule("end-8b", "MUST", "discovery",
      "Link rel=next pages through every tag exactly once; a page without Link means the list is complete "
      "(Docker Registry HTTP API V2; RFC 5988 form required by OCI)")
def test_tags_list_link_pages_cover_every_tag_once(client, push_image, cleanup, repo):
    push_tagged(client, push_image, cleanup, repo, unique_tags())
    full = all_tags(client, repo)
    n = max(2, -(-len(full) // 10))

    first = client.tags_list(repo, n=n)
    pages: list[list[str]] = []
    response = first
    for _ in range(len(full) + 2):
        pages.append(page_tags(client, response, f"GET tags/list?n={n} page {len(pages) + 1}"))
        assert len(pages[-1]) <= n, f"page {len(pages)} holds {len(pages[-1])} tags, more than n={n}: {pages[-1]}"
        url = next_link(response)
        if url is None:
            break
        response = client.request("GET", url)
    walked = [tag for page in pages for tag in page]

    assert not repeated(walked), f"tags repeated across pages: {repeated(walked)}; pages: {pages}"
    if not docker_rule(len(walked) >= len(full),
                       f"the last page (page {len(pages)}) carries no Link header, yet {len(full) - len(walked)} "
                       f"tags were never listed: {[t for t in full if t not in walked]}; pages: {pages}"):
        return
    assert walked == full, f"paging with n={n} gives {walked}, the full list is {full}"


@rule("end-8a", "MUST", "discovery", "the tags list of a repository that does not exist is 404 NAME_UNKNOWN")
def test_tags_list_of_unknown_repository_is_name_unknown(client, repo):
    missing = f"{repo}-absent-{secrets.token_hex(4)}"
    response = client.tags_list(missing)
    schemas.expect_error(client.explain, response, 404, "NAME_UNKNOWN", f"GET /v2/{missing}/tags/list",
                         require_json=False)


# -- catalog (Docker) --------------------------------------------------------------------------------

def _two_new_repositories(client: RegistryClient, push_image, repo: str, other_repo: str) -> tuple[str, str]:
    """Push a tiny image to ``repo`` and ``other_repo``; their names in lexical order. The catalog is asked
    first, so a registry without one ends the check as unsupported before anything is pushed."""
    catalog(client)
    push_image(repo=repo, layer_sizes=(32,))
    push_image(repo=other_repo, layer_sizes=(32,))
    low, high = sorted((repo, other_repo))
    return low, high


@rule("docker-catalog", "MUST", "discovery",
      "GET /v2/_catalog lists the pushed repositories once each, in lexical order (Docker Registry HTTP API V2)")
def test_catalog_lists_pushed_repositories_in_order(client, push_image, repo, other_repo):
    _, high = _two_new_repositories(client, push_image, repo, other_repo)
    try:
        names, pages = walk(client, catalog(client), "repositories", "catalog", "GET /v2/_catalog",
                            stop=lambda items: bool(items) and items[-1] > high)
    except WalkTooLong as exc:
        pytest.skip(f"the catalog is too large to walk from its start to the pushed repositories ({exc})")
    for wanted in (repo, other_repo):
        assert wanted in names, f"_catalog ({pages} page(s), {len(names)} repositories) lacks {wanted!r}"
    assert not repeated(names), f"_catalog repeats {repeated(names)}"
    assert is_lexical(names), f"_catalog is not in lexical order: {names[:50]}"


@rule("docker-catalog", "MUST", "discovery",
      "_catalog?last= continues strictly after that repository (Docker Registry HTTP API V2); ?n= should "
      "limit the page (the Docker document says should, so an ignored n is a warning)")
def test_catalog_honours_n_and_last(client, push_image, repo, other_repo):
    low, high = _two_new_repositories(client, push_image, repo, other_repo)

    response = catalog(client, n=1)
    page = schemas.check("catalog", response.content, "GET /v2/_catalog?n=1")["repositories"]
    should(len(page) <= 1, f"_catalog?n=1 returned {len(page)} repositories (n ignored): {page[:10]}")
    assert page or response.headers.get("Link"), "_catalog?n=1 returned nothing and no Link, yet repositories exist"

    response = catalog(client, n=1, last=low)
    what = f"GET /v2/_catalog?n=1&last={low}"
    page = schemas.check("catalog", response.content, what)["repositories"]
    should(len(page) <= 1, f"_catalog?n=1&last=… returned {len(page)} repositories (n ignored): {page[:10]}")
    assert page or response.headers.get("Link"), f"{what} is empty without Link, yet {high} exists"
    if page:
        assert low < page[0] <= high, (
            f"{what} must continue strictly after {low!r} (and {high!r} exists), got {page[:10]} (last ignored?)"
        )


@rule("docker-catalog", "MUST", "discovery",
      "_catalog Link pages list each repository once, in order, and Link is present while more remain")
def test_catalog_link_pages_never_repeat(client, push_image, repo, other_repo):
    low, high = _two_new_repositories(client, push_image, repo, other_repo)
    start = predecessor(low)
    params = {"n": 2, **({"last": start} if start else {})}

    first = catalog(client, **params)
    names, pages = walk(client, first, "repositories", "catalog", "GET /v2/_catalog?n=2",
                        stop=lambda items: bool(items) and items[-1] > high)
    assert not repeated(names), f"_catalog pages repeat {repeated(names)}: {names}"
    assert all(a < b for a, b in zip(names, names[1:], strict=False)), f"_catalog pages are out of order: {names}"
    if start:
        assert all(name > start for name in names), f"_catalog?last={start} listed names not after it: {names}"
    for wanted in (low, high):
        assert wanted in names, (
            f"walking _catalog?n=2 by Link ({pages} page(s)) never listed {wanted!r}: a page without Link "
            f"ended the walk early; listed {names}"
        )


@rule("docker-catalog", "SHOULD", "discovery", "_catalog?n=0 returns an empty list and no Link (as the tags list must)")
def test_catalog_n_zero_is_empty(client, push_image, repo):
    catalog(client)
    push_image(repo=repo, layer_sizes=(32,))

    response = catalog(client, n=0)
    page = schemas.check("catalog", response.content, "GET /v2/_catalog?n=0")["repositories"]
    should(page == [], f"_catalog?n=0 returned {len(page)} repositories instead of none")
    should(not response.headers.get("Link"), f"_catalog?n=0 carries Link: {response.headers.get('Link')}")
