"""Broken error answers: plain-text bodies, wrong or invented codes, 500 for a client mistake,
a body on a HEAD 404, an unknown tag reported as an unknown repository, upload sessions that crash
once they are gone, a proxy's HTML page for unknown repositories, unvalidated names, and invalid
tags parsed as digests.
"""

from __future__ import annotations

import json

from aiohttp import web

from reference_server import errors
from reference_server.context import CONTEXT_KEY, is_digest_reference
from reference_server.errors import RegistryError
from reference_server.routes import resolve
from registry_harness import paths, spec
from registry_harness.paths import Endpoint
from tests.broken import Variant, on_error

_CONTENT_ENDPOINTS = frozenset({Endpoint.BLOB, Endpoint.UPLOAD_START, Endpoint.UPLOAD, Endpoint.MANIFEST,
                                Endpoint.TAGS})
API_SITUATIONS = ("unknown-blob", "unknown-manifest-digest", "unknown-upload-status", "unknown-repository-tags")


def plain_text(request, exc: RegistryError) -> web.Response:
    return web.Response(status=exc.status, text=f"{exc.message}\n")


def with_code(code: str):
    def render(request, exc: RegistryError) -> web.Response:
        body = {"errors": [{"code": code, "message": exc.message, "detail": exc.detail}]}
        return web.Response(status=exc.status, body=json.dumps(body).encode(), content_type="application/json")

    return render


def server_error_for_400(request, exc: RegistryError) -> web.Response:
    if exc.status == 400:
        body = {"errors": [{"code": "UNKNOWN", "message": "internal error", "detail": {}}]}
        return web.Response(status=500, body=json.dumps(body).encode(), content_type="application/json")
    raise exc


@web.middleware
async def body_on_head_404(request: web.Request, handler):
    """Answer a HEAD that would be 404 with a body, written straight to the connection."""
    try:
        return await handler(request)
    except RegistryError as exc:
        if request.method != "HEAD" or exc.status != 404 or request.transport is None:
            raise
        body = exc.body()
        head = (f"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n").encode()
        request.transport.write(head + body)
        request.transport.close()
        raise web.HTTPNotFound() from None


@on_error
def unknown_tag_is_name_unknown(request: web.Request, exc: RegistryError) -> web.StreamResponse | None:
    """A tag missing from an existing repository is reported as NAME_UNKNOWN (the tag index
    lookup answers for the whole repository)."""
    reference = request.path.rpartition("/manifests/")[2]
    if "/manifests/" in request.path and exc.code == "MANIFEST_UNKNOWN" and not is_digest_reference(reference):
        raise errors.name_unknown(repository_of(request.path)) from None


@on_error
def gone_session_crashes(request: web.Request, exc: RegistryError) -> web.StreamResponse | None:
    """PATCH and PUT dereference a session that no longer exists: 500 instead of 404 BLOB_UPLOAD_UNKNOWN
    (the status GET still answers 404)."""
    if exc.code == "BLOB_UPLOAD_UNKNOWN" and request.method in ("PATCH", "PUT"):
        raise RuntimeError("upload session is None") from None


def repository_of(path: str) -> str | None:
    """The repository of a blob, upload, manifest or tags-list path (read as the router reads it)."""
    parsed = paths.parse(path)
    return parsed.name if parsed is not None and parsed.endpoint in _CONTENT_ENDPOINTS else None


@web.middleware
async def html_404_for_unknown_repository(request: web.Request, handler):
    """A front proxy answers reads of repositories the registry does not hold with its own HTML
    404 page, never passing the registry's JSON error through."""
    name = repository_of(request.path) if request.method in ("GET", "HEAD") else None
    if name and spec.valid_name(name) and not request.app[CONTEXT_KEY].storage.repo_exists(name):
        return web.Response(status=404, text="<html><body><h1>404 Not Found</h1></body></html>",
                            content_type="text/html")
    return await handler(request)


@on_error
def malformed_digest_crashes(request: web.Request, exc: RegistryError) -> web.StreamResponse | None:
    """A malformed digest in a blob path reaches the storage layer unchecked: 500."""
    if exc.code == "DIGEST_INVALID" and "/blobs/" in request.path and "/uploads" not in request.path:
        raise RuntimeError("cannot split digest") from None


@web.middleware
async def every_name_is_a_repository(request: web.Request, handler):
    """Names are never validated and every name is a repository: an invalid name opens uploads,
    and the tags of a repository nobody pushed to are an empty list."""
    try:
        return await handler(request)
    except RegistryError as exc:
        if exc.code == "NAME_INVALID":
            route, params = resolve(request.method, request.path)
            try:
                return await route(request, request.app[CONTEXT_KEY], **params)
            except RegistryError as inner:
                exc = inner
        if exc.code == "NAME_UNKNOWN" and request.method == "GET" and request.path.endswith("/tags/list"):
            return web.json_response({"name": repository_of(request.path), "tags": []})
        raise exc from None


@web.middleware
async def invalid_tag_parsed_as_digest(request: web.Request, handler):
    """A manifest reference that is not a valid tag is taken for a digest: 400 DIGEST_INVALID."""
    reference = request.path.rpartition("/manifests/")[2]
    if "/manifests/" in request.path and not is_digest_reference(reference) and not spec.valid_tag(reference):
        raise errors.digest_invalid({"digest": reference})
    return await handler(request)


def situations(*ids: str) -> tuple[str, ...]:
    return tuple(f"test_error_answer_fits_the_situation[{i}]" for i in ids)


VARIANTS: list[Variant] = [
    Variant(
        name="error-body-not-json",
        description="4xx answers carry a plain-text body instead of the JSON error envelope",
        select="test_error_answer_fits_the_situation",
        must_fail=situations(*API_SITUATIONS),
        middleware=on_error(plain_text),
    ),
    Variant(
        name="error-wrong-code",
        description="every error carries the code UNKNOWN, whatever the situation",
        select="test_error_answer_fits_the_situation",
        must_fail=situations(*API_SITUATIONS, "digest-mismatch-on-upload", "unknown-repository-manifest"),
        middleware=on_error(with_code("UNKNOWN")),
    ),
    Variant(
        name="error-code-outside-spec",
        description="errors carry a code the spec does not define (NOT_FOUND)",
        select="test_error_answer_fits_the_situation",
        must_fail=situations(*API_SITUATIONS),
        middleware=on_error(with_code("NOT_FOUND")),
    ),
    Variant(
        name="error-500-on-bad-input",
        description="client mistakes answered 400 by the reference server become 500 UNKNOWN",
        select="test_error_answer_fits_the_situation or test_digest_mismatch_is_digest_invalid",
        must_fail=(*situations("digest-mismatch-on-upload", "malformed-digest-on-upload"),
                   "test_digest_mismatch_is_digest_invalid"),
        middleware=on_error(server_error_for_400),
    ),
    Variant(
        name="error-body-on-head-404",
        description="a HEAD answered 404 sends the JSON error body after the headers",
        select="test_head_error_has_no_body",
        must_fail=("test_head_error_has_no_body[blob]", "test_head_error_has_no_body[manifest]"),
        middleware=body_on_head_404,
    ),
    Variant(
        name="unknown-tag-is-name-unknown",
        description="a tag missing from an existing repository is answered 404 NAME_UNKNOWN",
        select="test_error_answer_fits_the_situation and unknown-manifest-tag",
        must_fail=situations("unknown-manifest-tag"),
        middleware=unknown_tag_is_name_unknown,
    ),
    Variant(
        name="gone-upload-session-500",
        description="PATCH and PUT to an upload session that no longer exists answer 500 instead of 404",
        select="(test_error_answer_fits_the_situation and unknown-upload) or test_cancelled_upload_stays_unknown",
        must_fail=(*situations("unknown-upload-patch", "unknown-upload-put"), "test_cancelled_upload_stays_unknown"),
        middleware=gone_session_crashes,
    ),
    Variant(
        name="unknown-repository-html-404",
        description="reads of a repository the registry does not hold get a proxy's HTML 404 page",
        select="test_error_answer_fits_the_situation and unknown-repository",
        must_fail=situations("unknown-repository-blob", "unknown-repository-tags", "unknown-repository-manifest"),
        middleware=html_404_for_unknown_repository,
    ),
    Variant(
        name="malformed-digest-in-path-500",
        description="a malformed digest in a blob path answers 500 instead of 400/404",
        select="test_error_answer_fits_the_situation and malformed-digest-in-path",
        must_fail=situations("malformed-digest-in-path"),
        middleware=malformed_digest_crashes,
    ),
    Variant(
        name="names-not-validated",
        description="repository names are never validated and every name is an (empty) repository",
        select="test_error_answer_fits_the_situation and (invalid-name or unknown-repository-tags)",
        must_fail=situations("invalid-name", "invalid-name-on-push", "unknown-repository-tags"),
        middleware=every_name_is_a_repository,
    ),
    Variant(
        name="invalid-tag-parsed-as-digest",
        description="a manifest reference that is not a valid tag is answered 400 DIGEST_INVALID",
        select="test_error_answer_fits_the_situation and invalid-tag",
        must_fail=situations("invalid-tag"),
        middleware=invalid_tag_parsed_as_digest,
    ),
]
