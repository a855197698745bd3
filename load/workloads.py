"""What the load profiles do, as plain functions over the shared RegistryClient (no Locust here).

Each step checks what the registry answered: statuses, the headers a client relies on, and the
digest of every manifest and blob pulled; anything wrong raises CheckFailed, which the
surrounding ``Measure.op`` turns into a counted failure of the request that caused it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from load.images import SeededImage, image_for_layer, layer_factory
from load.measure import CheckFailed, Measure, MeasuredSession, Unsupported
from registry_harness import spec
from registry_harness.client import PageTrail, RegistryClient, UnexpectedResponse, parse_link_header
from registry_harness.digests import digest_of, parse_digest

READ_CHUNK = 1024 * 1024
MAX_BROWSE_PAGES = 200


@dataclass
class Pushed:
    """Something a workload pushed and cleanup has to delete."""

    repo: str
    manifest: str
    blobs: list[str] = field(default_factory=list)


def require_header(response: requests.Response, name: str, expected: str | None = None) -> str:
    """The value of header ``name``; CheckFailed when it is missing or differs from ``expected``."""
    value = response.headers.get(name)
    if value is None:
        raise CheckFailed(f"{response.request.method} answered {response.status_code} without {name}")
    if expected is not None and value != expected:
        raise CheckFailed(f"{name} is {value}, expected {expected}")
    return value


def expect_status(client: RegistryClient, response: requests.Response, *statuses: int) -> None:
    """CheckFailed (with the client's readable, masked account) unless the status is one of ``statuses``."""
    if response.status_code not in statuses:
        raise CheckFailed(client.explain(response, statuses).splitlines()[0] +
                          f" → {response.status_code} (expected {' or '.join(map(str, statuses))})")


def read_blob(client: RegistryClient, session: MeasuredSession, repo: str, digest: str, size: int | None) -> int:
    """GET a blob, streaming and hashing its body; CheckFailed unless length and digest match.

    A missing ``Docker-Content-Digest`` fails the request unless the answer came through a redirect
    (blob stores behind a CDN do not send it).
    """
    response = client.get_blob(repo, digest, stream=True)
    expect_status(client, response, 200)
    parsed = parse_digest(digest)
    hasher = hashlib.new(parsed.algorithm)
    received = 0
    chunks = response.iter_views(READ_CHUNK) if hasattr(response, "iter_views") else response.iter_content(READ_CHUNK)
    for chunk in chunks:  # views of one reused buffer: hashed before the next arrives
        hasher.update(chunk)
        received += len(chunk)
    session.body_done(received)
    if size is not None and received != size:
        raise CheckFailed(f"blob {digest[:19]}…: {received} bytes received, descriptor says {size}")
    if hasher.hexdigest() != parsed.hex:
        raise CheckFailed(f"blob {digest[:19]}…: body does not hash to its digest")
    header = response.headers.get("Docker-Content-Digest")
    if header is None and not response.history:
        raise CheckFailed("blob GET answered without Docker-Content-Digest")
    if header is not None and header != digest:
        raise CheckFailed(f"blob Docker-Content-Digest {header} differs from {digest}")
    return received


def pull_manifest(client: RegistryClient, measure: Measure, repo: str, reference: str,
                  media_type: str, expected: str | None) -> tuple[str, dict, int]:
    """HEAD then GET a manifest, verifying digest headers and body; return digest, document, size.

    With ``expected`` None (pull by a moving tag) the body is checked against the digest the
    registry announces.
    """
    head = client.get_manifest(repo, reference, accept=media_type, method="HEAD")
    expect_status(client, head, 200)
    announced = require_header(head, "Docker-Content-Digest", expected)
    length = require_header(head, "Content-Length")
    response = client.get_manifest(repo, reference, accept=media_type)
    expect_status(client, response, 200)
    body = response.content
    digest = expected or announced
    if digest_of(body, parse_digest(digest).algorithm) != digest:
        raise CheckFailed(f"manifest {repo}:{reference} does not hash to {digest}")
    require_header(response, "Docker-Content-Digest", digest)
    if length != str(len(body)):
        raise CheckFailed(f"manifest HEAD Content-Length {length} differs from the {len(body)} bytes served")
    measure.ttfb("manifest")
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise CheckFailed(f"manifest {repo}:{reference} is not JSON") from exc
    return digest, document, len(body)


def pull_layers(client: RegistryClient, measure: Measure, repo: str, document: dict) -> int:
    """GET the config and every layer a manifest names, each verified; bytes received."""
    total = 0
    config = document.get("config") or {}
    if config.get("digest"):
        total += read_blob(client, measure.session, repo, config["digest"], config.get("size"))
        measure.ttfb("config")
    for layer in document.get("layers") or []:
        total += read_blob(client, measure.session, repo, layer["digest"], layer.get("size"))
        measure.ttfb("layer")
    return total


def pull_image(client: RegistryClient, measure: Measure, image: SeededImage) -> None:
    """One whole-image pull (manifest HEAD, manifest GET, config, layers) timed as ``pull image <size>``."""
    with measure.op("PULL", f"pull image {image.label}") as op:
        _, document, size = pull_manifest(client, measure, image.repo, image.tag, image.image.media_type,
                                          image.digest)
        op.bytes = size + pull_layers(client, measure, image.repo, document)


def pull_tag(client: RegistryClient, measure: Measure, repo: str, tag: str, label: str) -> str | None:
    """Pull whatever ``repo:tag`` points at now (herd): digest from the registry, content verified."""
    digest = None
    with measure.op("PULL", f"pull image {label}") as op:
        digest, document, size = pull_manifest(client, measure, repo, tag, spec.OCI_MANIFEST, None)
        op.bytes = size + pull_layers(client, measure, repo, document)
    return digest


def push_image(client: RegistryClient, measure: Measure, repo: str, tag: str, size: int, unique: str,
               mode: str, label: str, chunk_size: int | None = None,
               record: Callable[[Pushed], None] | None = None) -> str | None:
    """Push a fresh single-layer image of ``size`` bytes (``mode`` monolithic or chunked), timed as one op.

    Returns the manifest digest, or None when the push failed (the failure is already counted).
    """
    body, layer_digest = layer_factory(size).layer(unique)
    config, manifest = image_for_layer(layer_digest, size, unique)
    manifest_digest = digest_of(manifest)
    result = None
    with measure.op("PUSH", f"push image {label}") as op:
        client.push_blob(repo, config.data, "monolithic")
        client.push_blob(repo, body, mode, chunk_size=chunk_size, digest=layer_digest)
        if record is not None:
            record(Pushed(repo, manifest_digest, [layer_digest, config.digest]))
        response = client.put_manifest(repo, tag, manifest, spec.OCI_MANIFEST)
        expect_status(client, response, 201)
        require_header(response, "Docker-Content-Digest", manifest_digest)
        op.bytes = len(manifest) + config.size + size
        result = manifest_digest
    return result


def browse_pages(client: RegistryClient, first: requests.Response, key: str) -> list[str]:
    """Follow ``Link: rel="next"`` from ``first`` (bounded), each page checked; all ``key`` entries."""
    items: list[str] = []
    response = first
    trail = PageTrail(first)
    for number in range(1, MAX_BROWSE_PAGES + 1):
        expect_status(client, response, 200)
        try:
            page = response.json().get(key) or []
        except (ValueError, AttributeError) as exc:
            raise CheckFailed(f"{key} page is not a JSON object") from exc
        items.extend(page)
        links = [link for link in parse_link_header(response.headers.get("Link")) if link.rel == "next"]
        if not links:
            return items
        url = client.url(requests.compat.urljoin(response.url, links[0].url))
        try:  # the first page that loops back or repeats an earlier one ends the walk
            trail.follow(url, number)
            response = client.request("GET", url)
            if response.status_code == 200:
                trail.arrived(response, number + 1)
        except UnexpectedResponse as exc:
            raise CheckFailed(str(exc)) from None
    raise CheckFailed(f"more than {MAX_BROWSE_PAGES} pages")


def browse_tags(client: RegistryClient, measure: Measure, repo: str, expected: list[str], page_size: int) -> None:
    """Page through a repository's tags; every seeded tag must appear.

    Order is left to the conformance suite (Distribution 2.x ignores ``n`` and answers unsorted).
    """
    with measure.op("BROWSE", "browse tags"):
        tags = browse_pages(client, client.tags_list(repo, n=page_size), "tags")
        missing = sorted(set(expected) - set(tags))
        if missing:
            raise CheckFailed(f"tags list of {repo} lacks {len(missing)} seeded tags (first {missing[0]})")


def browse_catalog(client: RegistryClient, measure: Measure, expected: list[str], page_size: int) -> bool:
    """Page through ``/v2/_catalog``; every seeded repository must appear. False when unsupported."""
    try:
        with measure.op("BROWSE", "browse catalog"):
            first = client.catalog(n=page_size)
            if first.status_code in (404, 405) or (first.status_code == 400 and b"UNSUPPORTED" in first.content):
                raise Unsupported("catalog")
            repos = browse_pages(client, first, "repositories")
            missing = sorted(set(expected) - set(repos))
            if missing:
                raise CheckFailed(f"catalog lacks {len(missing)} seeded repositories (first {missing[0]})")
    except Unsupported:
        return False
    return True


RESOLVE_STEPS = ("head", "get", "tags")


def resolve_image(client: RegistryClient, measure: Measure, image: SeededImage, steps: tuple[str, ...],
                  page_size: int) -> None:
    """The small requests a client makes before (or instead of) a pull, each checked, timed as ``resolve image``:
    HEAD the tag (Docker-Content-Digest must be the seeded digest, Content-Length present), GET it (the
    body must hash to that digest), list the repository's tags (the tag must be there)."""
    digest = image.digest  # computed once: the property hashes the manifest on every access
    with measure.op("RESOLVE", "resolve image"):
        if "head" in steps:
            head = client.get_manifest(image.repo, image.tag, accept=image.image.media_type, method="HEAD")
            expect_status(client, head, 200)
            require_header(head, "Docker-Content-Digest", digest)
            require_header(head, "Content-Length")
        if "get" in steps:
            response = client.get_manifest(image.repo, image.tag, accept=image.image.media_type)
            expect_status(client, response, 200)
            if digest_of(response.content) != digest:
                raise CheckFailed(f"manifest {image.repo}:{image.tag} does not hash to {digest}")
            require_header(response, "Docker-Content-Digest", digest)
            measure.ttfb("manifest")
        if "tags" in steps:
            listing = client.tags_list(image.repo, n=page_size)
            expect_status(client, listing, 200)
            try:
                tags = listing.json().get("tags") or []
            except (ValueError, AttributeError) as exc:
                raise CheckFailed("tags list is not a JSON object") from exc
            if image.tag not in tags:
                raise CheckFailed(f"tags list of {image.repo} lacks {image.tag}")
