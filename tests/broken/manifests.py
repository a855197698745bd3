"""Broken manifests: wrong Content-Type or altered bytes on GET, subject refused, PUT answers that
lie about the digest or drop OCI-Subject / OCI-Tag, tags that do not move or cannot be shared,
invalid input stored, a lax tag grammar, size limits answered wrongly, missing blobs as 404.
"""

from __future__ import annotations

import re

from aiohttp import web

from reference_server import errors
from reference_server.context import CONTEXT_KEY
from reference_server.errors import RegistryError
from reference_server.manifests import parse_manifest
from reference_server.storage.base import ManifestRecord
from registry_harness import spec
from registry_harness.digests import digest_of
from tests.broken import Variant, on_error, rewrite

MANIFEST_PATH = re.compile(r"^/v2/.+/manifests/[^/]+$")
MANIFEST_REF = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<ref>[^/]+)$")
LEADING_ANY = re.compile(r"^[a-zA-Z0-9._-]{1,128}$")  # the first character is not restricted
UNBOUNDED = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]*$")  # no length limit


def manifest_request(method: str):
    def match(request: web.Request) -> bool:
        return request.method == method and bool(MANIFEST_PATH.match(request.path))

    return match


def wrong_content_type(request, response):
    if response.status == 200:
        response.headers["Content-Type"] = "application/json"


def altered_body(request, response):
    if response.status == 200 and isinstance(response, web.Response) and response.body:
        response.body = bytes(response.body) + b"\n"


def wrong_digest_header(request, response):
    if response.status == 201:
        response.headers["Docker-Content-Digest"] = "sha256:" + "0" * 64


def drop_header(name: str):
    def change(request, response):
        response.headers.popall(name, None)

    return change


@web.middleware
async def refuse_subject(request: web.Request, handler):
    """Refuse every manifest that carries a subject, as if the subject had to exist first."""
    if manifest_request("PUT")(request):
        body = await request.read()
        if b'"subject"' in body:
            raise errors.manifest_blob_unknown("subject")
    return await handler(request)


def tags_never_move():
    """Accept a second PUT to the same tag with 201 but keep the first manifest."""
    seen: set[str] = set()

    @web.middleware
    async def middleware(request: web.Request, handler):
        if manifest_request("PUT")(request) and ":" not in request.path.rsplit("/", 1)[-1]:
            if request.path in seen:
                await request.read()
                return web.Response(status=201, headers={"Location": request.path})
            seen.add(request.path)
        return await handler(request)

    return middleware


def accept_despite(code: str):
    """Answer 201 where the registry would refuse a manifest PUT with ``code``."""

    @on_error
    def change(request: web.Request, exc: RegistryError) -> web.StreamResponse | None:
        if manifest_request("PUT")(request) and exc.code == code:
            return web.Response(status=201, headers={"Location": request.path})
        return None

    return change


def lax_tag_grammar(grammar: re.Pattern[str]):
    """Store a manifest PUT under any tag ``grammar`` matches, the spec's grammar notwithstanding."""

    @web.middleware
    async def middleware(request: web.Request, handler):
        match = MANIFEST_REF.match(request.path) if request.method == "PUT" else None
        tag = match["ref"] if match else ""
        if not match or ":" in tag or spec.valid_tag(tag) or not grammar.match(tag):
            return await handler(request)
        body = await request.read()
        parsed = parse_manifest(body, request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower())
        record = ManifestRecord(digest=digest_of(body), media_type=parsed.media_type, body=body)
        await request.app[CONTEXT_KEY].storage.manifest_put(match["name"], record, [tag], None, None)
        return web.Response(status=201, headers={"Location": f"/v2/{match['name']}/manifests/{record.digest}",
                                                 "Docker-Content-Digest": record.digest})

    return middleware


@web.middleware
async def one_tag_per_manifest(request: web.Request, handler):
    """Keep the tag as a field of the manifest: PUT under a new tag takes it from its previous tag."""
    response = await handler(request)
    match = MANIFEST_REF.match(request.path)
    if request.method == "PUT" and match and ":" not in match["ref"] and response.status == 201:
        storage = request.app[CONTEXT_KEY].storage
        digest = response.headers.get("Docker-Content-Digest")
        for tag in storage.tags(match["name"]):
            if tag != match["ref"] and storage.tag_get(match["name"], tag) == digest:
                await storage.tag_delete(match["name"], tag)
    return response


def size_limit(limit: int):
    """Refuse manifest PUTs whose body is over ``limit`` bytes with 413 (a limit below the spec's 4 MB)."""

    @web.middleware
    async def middleware(request: web.Request, handler):
        if manifest_request("PUT")(request) and (request.content_length or 0) > limit:
            raise errors.manifest_invalid({"reason": "manifest too large", "limit": limit}, status=413)
        return await handler(request)

    return middleware


@on_error
def over_limit_is_400(request: web.Request, exc: RegistryError) -> web.StreamResponse | None:
    """Refuse a manifest over the size limit with 400 MANIFEST_INVALID instead of 413."""
    if exc.status == 413:
        raise errors.manifest_invalid(exc.detail) from None


@on_error
def missing_blob_is_404(request: web.Request, exc: RegistryError) -> web.StreamResponse | None:
    """Let the blob lookup's own error escape a manifest PUT: 404 BLOB_UNKNOWN, not 400 MANIFEST_BLOB_UNKNOWN."""
    if manifest_request("PUT")(request) and exc.code == "MANIFEST_BLOB_UNKNOWN":
        raise RegistryError("BLOB_UNKNOWN", "blob unknown to registry", exc.detail) from None


VARIANTS: list[Variant] = [
    Variant(
        name="manifest-wrong-content-type",
        description="manifest GET answers Content-Type: application/json instead of the media type",
        select="test_manifest_round_trip",
        must_fail=("test_manifest_round_trip",),
        middleware=rewrite(manifest_request("GET"), wrong_content_type),
    ),
    Variant(
        name="manifest-body-altered",
        description="manifest GET appends a newline to the stored bytes",
        select="test_manifest_round_trip",
        must_fail=("test_manifest_round_trip",),
        middleware=rewrite(manifest_request("GET"), altered_body),
    ),
    Variant(
        name="manifest-subject-refused",
        description="a manifest with a subject is refused with MANIFEST_BLOB_UNKNOWN",
        select="test_manifest_with_missing_subject_is_accepted",
        must_fail=("test_manifest_with_missing_subject_is_accepted",),
        middleware=refuse_subject,
    ),
    Variant(
        name="manifest-put-wrong-digest",
        description="manifest PUT answers a Docker-Content-Digest that is not the content's",
        select="test_manifest_put_answers_location_and_digest or test_manifest_put_by_digest",
        must_fail=("test_manifest_put_answers_location_and_digest", "test_manifest_put_by_digest"),
        middleware=rewrite(manifest_request("PUT"), wrong_digest_header),
    ),
    Variant(
        name="manifest-no-oci-subject",
        description="PUT with subject answers without OCI-Subject although referrers are served",
        select="test_put_with_subject_answers_oci_subject",
        must_fail=("test_put_with_subject_answers_oci_subject",),
        middleware=rewrite(manifest_request("PUT"), drop_header("OCI-Subject")),
    ),
    Variant(
        name="manifest-no-oci-tag",
        description="PUT by digest with ?tag= creates the tags but sends no OCI-Tag header",
        select="test_put_by_digest_with_tag_parameters",
        must_fail=("test_put_by_digest_with_tag_parameters",),
        middleware=rewrite(manifest_request("PUT"), drop_header("OCI-Tag")),
    ),
    Variant(
        name="manifest-tag-never-moves",
        description="a second PUT under an existing tag answers 201 but the tag keeps its first manifest",
        select="test_tag_overwritten_by_a_new_manifest",
        must_fail=("test_tag_overwritten_by_a_new_manifest",),
        middleware=tags_never_move(),
    ),
    Variant(
        name="manifest-invalid-json-accepted",
        description="a manifest that is not JSON is answered 201 instead of 400 MANIFEST_INVALID",
        select="test_invalid_json_manifest_is_manifest_invalid",
        must_fail=("test_invalid_json_manifest_is_manifest_invalid",),
        middleware=accept_despite("MANIFEST_INVALID"),
    ),
    Variant(
        name="manifest-digest-mismatch-accepted",
        description="PUT to a digest that is not the body's is answered 201 instead of 400 DIGEST_INVALID",
        select="test_digest_mismatch_is_digest_invalid",
        must_fail=("test_digest_mismatch_is_digest_invalid",),
        middleware=accept_despite("DIGEST_INVALID"),
    ),
    Variant(
        name="manifest-tag-leading-dash-stored",
        description="a tag grammar that lets any first character through: -leading-dash is stored (201)",
        select="test_invalid_tag_is_refused and leading-dash",
        must_fail=("test_invalid_tag_is_refused[leading-dash]",),
        middleware=lax_tag_grammar(LEADING_ANY),
    ),
    Variant(
        name="manifest-tag-length-unlimited",
        description="tags are not limited to 128 characters: a 129-character tag is stored (201)",
        select="test_invalid_tag_is_refused and 129-chars",
        must_fail=("test_invalid_tag_is_refused[129-chars]",),
        middleware=lax_tag_grammar(UNBOUNDED),
    ),
    Variant(
        name="manifest-one-tag-per-digest",
        description="a manifest keeps one tag: PUT of the same manifest under a second tag unsets the first",
        select="test_same_manifest_under_a_second_tag",
        must_fail=("test_same_manifest_under_a_second_tag",),
        middleware=one_tag_per_manifest,
    ),
    Variant(
        name="manifest-limit-one-mebibyte",
        description="manifests over 1 MiB are refused (413): below the 4 MB registries SHOULD accept",
        select="test_manifest_of_four_megabytes_is_accepted",
        must_fail=("test_manifest_of_four_megabytes_is_accepted",),
        middleware=size_limit(1 << 20),
        strict=True,
    ),
    Variant(
        name="manifest-over-limit-400",
        description="a manifest over the size limit is refused with 400 MANIFEST_INVALID instead of 413",
        select="test_oversized_manifest_is_refused_with_413_or_kept_exactly",
        must_fail=("test_oversized_manifest_is_refused_with_413_or_kept_exactly",),
        middleware=over_limit_is_400,
        strict=True,
    ),
    Variant(
        name="manifest-missing-blob-404",
        description="a manifest naming a blob the repository lacks is refused with 404 BLOB_UNKNOWN "
                    "instead of 400 MANIFEST_BLOB_UNKNOWN",
        select="test_manifest_with_missing_blobs",
        must_fail=("test_manifest_with_missing_blobs",),
        middleware=missing_blob_is_404,
    ),
]
