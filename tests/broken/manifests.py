"""Broken manifests: wrong Content-Type or altered bytes on GET, subject refused, PUT answers that
lie about the digest or drop OCI-Subject / OCI-Tag, tags that do not move, invalid input stored.
"""

from __future__ import annotations

import re

from aiohttp import web

from reference_server import errors
from reference_server.errors import RegistryError
from tests.broken import Variant, rewrite

MANIFEST_PATH = re.compile(r"^/v2/.+/manifests/[^/]+$")


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

    @web.middleware
    async def middleware(request: web.Request, handler):
        try:
            return await handler(request)
        except RegistryError as exc:
            if manifest_request("PUT")(request) and exc.code == code:
                return web.Response(status=201, headers={"Location": request.path})
            raise

    return middleware


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
]
