"""Registries that break a rule the suite applies everywhere: acknowledged writes that were never
kept, a completed upload reporting another digest, a large manifest mangled (caught by the MUST
inside a SHOULD-level check), Range ignored (a SHOULD: a warning, a failure under --strict), and
Docker-only rules judged by OCI alone (``--judge oci``: warnings, not failures).
"""

from __future__ import annotations

from aiohttp import web

from registry_harness.digests import digest_of
from tests.broken import Variant, rewrite
from tests.broken.errors import VARIANTS as ERROR_VARIANTS
from tests.broken.push_pull import BLOB, MANIFEST, SESSION, UPLOADS, WRONG_DIGEST, on, without_header

LARGE = 1 << 20


@web.middleware
async def manifest_put_stores_nothing(request: web.Request, handler):
    """Every manifest PUT answers 201 with the right headers, and nothing is stored."""
    if on("PUT", MANIFEST)(request):
        body = await request.read()
        digest = digest_of(body)
        name = request.path.removeprefix("/v2/").rpartition("/manifests/")[0]
        return web.Response(status=201, headers={"Location": f"/v2/{name}/manifests/{digest}",
                                                 "Docker-Content-Digest": digest})
    return await handler(request)


def report_other_digest(request, response):
    """A completed blob upload (201) names a digest of other content."""
    if response.status == 201:
        response.headers["Docker-Content-Digest"] = WRONG_DIGEST


def completed_upload(request: web.Request) -> bool:
    return request.method in ("PUT", "POST") and bool(SESSION.match(request.path) or UPLOADS.match(request.path))


def mangle_large(request, response):
    """Manifests of a megabyte or more are served with one byte changed."""
    if response.status == 200 and isinstance(response, web.Response) and response.body and \
            len(response.body) >= LARGE:
        body = bytearray(response.body)
        body[len(body) // 2] = ord("y") if body[len(body) // 2] != ord("y") else ord("z")
        response.body = bytes(body)


@web.middleware
async def range_ignored(request: web.Request, handler):
    """Range is ignored: every blob GET answers 200 with the whole blob (valid HTTP; Range support is a SHOULD)."""
    if request.method == "GET" and BLOB.match(request.path) and "Range" in request.headers:
        request = without_header(request, "Range")
    return await handler(request)


_NOT_JSON = next(v for v in ERROR_VARIANTS if v.name == "error-body-not-json")
RANGE_CHECKS = ("test_blob_range[first-last]", "test_blob_range[open-ended]", "test_blob_range[suffix]",
                "test_blob_range[past-end]", "test_blob_range_unsatisfiable[beyond-end]",
                "test_blob_range_unsatisfiable[last-before-first]", "test_sha512_blob_head_and_range")

VARIANTS: list[Variant] = [
    Variant(
        "manifest-put-stores-nothing", "manifest PUTs answer 201 with the right digest but nothing is kept",
        select="test_manifest_unknown or test_manifest_with_missing_blobs or "
               "(test_error_answer_fits_the_situation and unknown-manifest-tag)",
        must_fail=("test_manifest_unknown", "test_manifest_with_missing_blobs",
                   "test_error_answer_fits_the_situation[unknown-manifest-tag]"),
        middleware=manifest_put_stores_nothing,
    ),
    Variant(
        "completed-upload-reports-other-digest", "the 201 that completes a blob upload names another digest",
        select="test_blob_upload or test_zero_byte_blob",
        must_fail=("test_blob_upload[monolithic]", "test_blob_upload[single]", "test_blob_upload[streamed]",
                   "test_blob_upload[chunked]", "test_zero_byte_blob[sha256]"),
        middleware=rewrite(completed_upload, report_other_digest),
    ),
    Variant(
        "large-manifest-mangled", "manifests of a megabyte or more are served with one byte changed",
        select="test_manifest_of_four_megabytes_is_accepted",
        must_fail=("test_manifest_of_four_megabytes_is_accepted",),  # a SHOULD-level check, failed by its MUST
        middleware=rewrite(on("GET", MANIFEST), mangle_large),
    ),
    Variant(
        "range-ignored", "Range is ignored (200 with the whole blob): a SHOULD not met, a failure under --strict",
        select="test_blob_range or test_sha512_blob_head_and_range",
        must_fail=RANGE_CHECKS,
        middleware=range_ignored,
        strict=True,
    ),
]
# Used by tests/test_levels.py: the same registries judged without --strict, and by OCI alone.
RANGE_IGNORED = VARIANTS[-1]
ERROR_BODY_NOT_JSON = _NOT_JSON
