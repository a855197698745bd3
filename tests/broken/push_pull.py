"""Broken base, push and pull behaviour: each variant breaks one rule the base/push/pull checks enforce.

Upload answers without Location or Range, a Range off by one, mismatching content accepted, a
fake single POST, chunks accepted out of order, the final chunk refused in the closing PUT, an
upload status with the wrong status, a cancel that does nothing, mounts that lie, blobs served
across repositories, corrupted bytes, wrong digests, a HEAD with a body, Range handled wrongly,
manifests with a wrong digest or media type, unknown blobs served empty, unknown manifests reported
as unknown blobs, negotiation that relabels or re-encodes manifests, digest-algorithm sessions that
ignore the algorithm named, sha512 blobs that cannot be read back, and mounts without ``from``
that mount nothing.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

from aiohttp import web
from multidict import CIMultiDict

from reference_server import errors
from reference_server.context import CONTEXT_KEY
from reference_server.errors import RegistryError
from registry_harness import spec
from registry_harness.paths import repository_of
from tests.broken import Variant, on_error, rewrite

UPLOADS = re.compile(r"^/v2/.+/blobs/uploads/?$")
SESSION = re.compile(r"^/v2/.+/blobs/uploads/[^/]+$")
BLOB = re.compile(r"^/v2/(?P<name>.+)/blobs/(?P<digest>[a-z0-9]+:[0-9a-f]+)$")
MANIFEST = re.compile(r"^/v2/.+/manifests/[^/]+$")
WRONG_DIGEST = "sha256:" + "0" * 64


def on(method: str | tuple[str, ...], path: re.Pattern[str], query: str | None = None):
    """A request matcher: method(s), path shape, and optionally a query parameter that must be present."""
    methods = (method,) if isinstance(method, str) else method

    def match(request: web.Request) -> bool:
        if request.method not in methods or not path.match(request.path):
            return False
        return query is None or query in request.query

    return match


def without_header(request: web.Request, name: str) -> web.Request:
    headers = CIMultiDict(request.headers)
    headers.popall(name, None)
    return request.clone(headers=headers)


def drop(name: str, status: int | None = None):
    def change(request, response):
        if status is None or response.status == status:
            response.headers.popall(name, None)

    return change


def set_header(name: str, value, status: int = 200):
    def change(request, response):
        if response.status == status:
            response.headers[name] = value(response) if callable(value) else value

    return change


def set_status(new: int, old: int):
    def change(request, response):
        if response.status == old:
            response.set_status(new)

    return change


def range_exclusive_end(request, response):
    """``Range: 0-<size>`` instead of ``0-<size-1>``: the classic off-by-one."""
    value = response.headers.get("Range", "")
    if value.startswith("0-") and value[2:].isdigit():
        response.headers["Range"] = f"0-{int(value[2:]) + 1}"


def flip_a_byte(request, response):
    if response.status == 200 and isinstance(response, web.Response) and response.body:
        body = bytearray(response.body)
        body[len(body) // 2] ^= 0xFF
        response.body = bytes(body)


@on_error
def accept_wrong_digest(request: web.Request, exc: RegistryError) -> web.StreamResponse | None:
    """Closing an upload with a digest the content does not match answers 201 anyway."""
    if exc.code == "DIGEST_INVALID" and (UPLOADS.match(request.path) or SESSION.match(request.path)):
        claimed = request.query.get("digest", WRONG_DIGEST)
        name = repository_of(request.path)
        return web.Response(status=201, headers={"Location": f"/v2/{name}/blobs/{claimed}",
                                                 "Docker-Content-Digest": claimed})


@web.middleware
async def fake_single_post(request: web.Request, handler):
    """POST ?digest= answers 201 but never stores the blob."""
    if on("POST", UPLOADS, "digest")(request) and "mount" not in request.query:
        await request.read()
        name = repository_of(request.path)
        return web.Response(status=201, headers={"Location": f"/v2/{name}/blobs/{request.query['digest']}"})
    return await handler(request)


@web.middleware
async def ignore_content_range(request: web.Request, handler):
    """PATCH appends whatever arrives, ignoring Content-Range (out-of-order chunks accepted, 202)."""
    if on("PATCH", SESSION)(request) and "Content-Range" in request.headers:
        request = without_header(request, "Content-Range")
    return await handler(request)


@web.middleware
async def refuse_chunk_in_put(request: web.Request, handler):
    """The closing PUT may not carry the last chunk: 400 whenever it has a Content-Range."""
    if on("PUT", SESSION)(request) and "Content-Range" in request.headers:
        await request.read()
        raise RegistryError("BLOB_UPLOAD_INVALID", "chunks must be sent with PATCH")
    return await handler(request)


@web.middleware
async def cancel_does_nothing(request: web.Request, handler):
    """DELETE <location> answers 204 but the session lives on."""
    if on("DELETE", SESSION)(request):
        return web.Response(status=204)
    return await handler(request)


@web.middleware
async def mount_always_201(request: web.Request, handler):
    """Every mount request answers 201, whether or not anything was mounted."""
    if on("POST", UPLOADS, "mount")(request):
        name = repository_of(request.path)
        return web.Response(status=201, headers={"Location": f"/v2/{name}/blobs/{request.query['mount']}"})
    return await handler(request)


def declined_mount_201(request, response):
    """A mount the registry could not perform (it opened a session, 202) is reported as done (201)."""
    if response.status == 202:
        name = repository_of(request.path)
        return web.Response(status=201, headers={"Location": f"/v2/{name}/blobs/{request.query['mount']}"})
    return None


@on_error
def blobs_shared_across_repositories(request: web.Request, exc: RegistryError) -> web.StreamResponse | None:
    """A blob unknown in this repository is served anyway when any repository holds it."""
    match = BLOB.match(request.path)
    storage = request.app[CONTEXT_KEY].storage
    if request.method in ("GET", "HEAD") and match and exc.status == 404 and \
            storage.any_repo_has_blob(match["digest"]):
        data = storage.blob_read(match["digest"])
        return web.Response(body=data, headers={"Docker-Content-Digest": match["digest"],
                                                "Content-Type": "application/octet-stream"})


@web.middleware
async def head_with_body(request: web.Request, handler):
    """HEAD of a blob sends body bytes after the headers."""
    response = await handler(request)
    if request.method == "HEAD" and BLOB.match(request.path) and response.status == 200:
        await response.prepare(request)
        await response.write_eof()
        if request.transport is not None:
            request.transport.write(b"these bytes are a body a HEAD answer must not have")
    return response


@web.middleware
async def range_ignored_but_206(request: web.Request, handler):
    """Range is ignored (the whole blob is sent) but the status claims 206 Partial Content."""
    if request.method == "GET" and BLOB.match(request.path) and "Range" in request.headers:
        response = await handler(without_header(request, "Range"))
        if response.status == 200:
            response.set_status(206)
        return response
    return await handler(request)


@web.middleware
async def range_end_off_by_one(request: web.Request, handler):
    """``bytes=a-b`` is served as ``a-(b+1)``: one byte too many."""
    value = request.headers.get("Range", "")
    match = re.fullmatch(r"bytes=(\d+)-(\d+)", value)
    if request.method == "GET" and BLOB.match(request.path) and match:
        headers = CIMultiDict(request.headers)
        headers["Range"] = f"bytes={match[1]}-{int(match[2]) + 1}"
        request = request.clone(headers=headers)
    return await handler(request)


@on_error
def unsatisfiable_range_206(request: web.Request, exc: RegistryError) -> web.StreamResponse | None:
    """A range beyond the end of the blob answers 206 with an empty body instead of 416."""
    if exc.code == "RANGE_INVALID":
        return web.Response(status=206, body=b"", headers={"Content-Range": "bytes 0-0/0"})


def manifest_list_as_index(request, response):
    if response.status == 200 and response.headers.get("Content-Type") == spec.DOCKER_MANIFEST_LIST:
        response.headers["Content-Type"] = spec.OCI_INDEX


@on_error
def unknown_blob_served_empty(request: web.Request, exc: RegistryError) -> web.StreamResponse | None:
    """GET/HEAD of a blob the repository does not hold answer 200 with an empty body (the storage
    layer hands back an empty reader for a missing key)."""
    match = BLOB.match(request.path)
    if exc.code == "BLOB_UNKNOWN" and match and request.method in ("GET", "HEAD"):
        return web.Response(status=200, body=b"", headers={"Docker-Content-Digest": match["digest"],
                                                          "Content-Type": "application/octet-stream"})


@on_error
def manifest_miss_is_blob_unknown(request: web.Request, exc: RegistryError) -> web.StreamResponse | None:
    """A manifest lookup that misses reports the blob store's error: 404 BLOB_UNKNOWN."""
    if exc.code == "MANIFEST_UNKNOWN" and MANIFEST.match(request.path):
        raise errors.blob_unknown(request.path.rpartition("/")[2]) from None


def several_types(request: web.Request) -> bool:
    return on("GET", MANIFEST)(request) and "," in ",".join(request.headers.getall("Accept", ()))


def label_with_first_accepted(request, response):
    """Content-Type is the first type the client listed, not the type the manifest was pushed as."""
    if response.status == 200:
        first = ",".join(request.headers.getall("Accept", ())).split(",")[0].split(";")[0].strip()
        response.headers["Content-Type"] = first


def reencoded(request, response):
    """The manifest is parsed to choose a representation and served re-serialised (pretty-printed)."""
    if response.status == 200 and isinstance(response, web.Response) and response.body:
        response.body = json.dumps(json.loads(response.body), indent=3).encode()


def algorithm_always_sha512():
    """A session opened with ?digest-algorithm= hashes with sha512 whatever algorithm it names:
    closing it with a sha256 digest is refused 400 DIGEST_INVALID."""
    opened: set[str] = set()

    @web.middleware
    async def middleware(request: web.Request, handler):
        if on("PUT", SESSION)(request) and request.path in opened and \
                request.query.get("digest", "").startswith("sha256:"):
            await request.read()
            raise errors.digest_invalid({"reason": "content does not match the sha512 digest of the session"})
        response = await handler(request)
        if on("POST", UPLOADS, "digest-algorithm")(request) and response.status == 202 and \
                "Location" in response.headers:
            opened.add(urlsplit(response.headers["Location"]).path)
        return response

    return middleware


@web.middleware
async def sha512_blobs_unreadable(request: web.Request, handler):
    """sha512 uploads are accepted (201) but blobs are indexed by sha256 only: GET/HEAD by the
    sha512 digest answer 404."""
    match = BLOB.match(request.path)
    if match and request.method in ("GET", "HEAD") and match["digest"].startswith("sha512:"):
        raise errors.blob_unknown(match["digest"])
    return await handler(request)


@web.middleware
async def mount_without_from_links_nothing(request: web.Request, handler):
    """POST ?mount= without from answers 201 when any repository holds the blob, but never links it
    into the target repository."""
    if on("POST", UPLOADS, "mount")(request) and "from" not in request.query:
        digest = request.query["mount"]
        if request.app[CONTEXT_KEY].storage.any_repo_has_blob(digest):
            name = repository_of(request.path)
            return web.Response(status=201, headers={"Location": f"/v2/{name}/blobs/{digest}",
                                                     "Docker-Content-Digest": digest})
    return await handler(request)


VARIANTS: list[Variant] = [
    Variant(
        "v2-root-404", "GET /v2/ answers 404, as if the API were not implemented",
        select="test_api_version_check",
        must_fail=("test_api_version_check", "test_api_version_check_authenticated"),
        middleware=rewrite(lambda r: r.path == "/v2/", set_status(404, 200)),
    ),
    Variant(
        "v2-root-401-without-challenge", "GET /v2/ answers 401 without WWW-Authenticate",
        select="test_api_version_check",
        must_fail=("test_api_version_check",),
        middleware=rewrite(lambda r: r.path == "/v2/", set_status(401, 200)),
    ),
    Variant(
        "upload-post-without-location", "POST /blobs/uploads/ answers 202 without Location",
        select="test_blob_upload",
        must_fail=("test_blob_upload[monolithic]", "test_blob_upload[streamed]", "test_blob_upload[chunked]"),
        middleware=rewrite(on("POST", UPLOADS), drop("Location", 202)),
    ),
    Variant(
        "fake-single-post", "POST ?digest= with the blob answers 201 but stores nothing",
        select="test_blob_upload",
        must_fail=("test_blob_upload[single]",),
        middleware=fake_single_post,
    ),
    Variant(
        "patch-without-range", "PATCH answers 202 without a Range header",
        select="test_chunk_answers_report_progress or test_blob_upload",
        must_fail=("test_chunk_answers_report_progress", "test_blob_upload[streamed]",
                   "test_blob_upload[chunked]"),
        middleware=rewrite(on("PATCH", SESSION), drop("Range")),
    ),
    Variant(
        "patch-range-off-by-one", "PATCH answers Range: 0-<bytes received> (one past the last byte)",
        select="test_chunk_answers_report_progress",
        must_fail=("test_chunk_answers_report_progress",),
        middleware=rewrite(on("PATCH", SESSION), range_exclusive_end),
    ),
    Variant(
        "patch-without-location", "PATCH answers 202 without Location",
        select="test_chunk_answers_report_progress",
        must_fail=("test_chunk_answers_report_progress",),
        middleware=rewrite(on("PATCH", SESSION), drop("Location")),
    ),
    Variant(
        "out-of-order-chunk-accepted", "PATCH ignores Content-Range and appends (202 for a chunk out of order)",
        select="test_out_of_order_chunk_is_416",
        must_fail=("test_out_of_order_chunk_is_416",),
        middleware=ignore_content_range,
    ),
    Variant(
        "last-chunk-in-put-refused", "the closing PUT refuses a final chunk (400 when it has Content-Range)",
        select="test_last_chunk_in_closing_put",
        must_fail=("test_last_chunk_in_closing_put",),
        middleware=refuse_chunk_in_put,
    ),
    Variant(
        "upload-status-200", "GET <location> answers 200 instead of 204",
        select="test_upload_status",
        must_fail=("test_upload_status",),
        middleware=rewrite(on("GET", SESSION), set_status(200, 204)),
    ),
    Variant(
        "cancel-does-nothing", "DELETE <location> answers 204 but the session stays active",
        select="test_upload_cancel",
        must_fail=("test_upload_cancel",),
        middleware=cancel_does_nothing,
    ),
    Variant(
        "wrong-digest-accepted", "content not matching the closing digest is accepted with 201",
        select="test_digest_mismatch_is_rejected",
        must_fail=("test_digest_mismatch_is_rejected[monolithic]", "test_digest_mismatch_is_rejected[single]",
                   "test_digest_mismatch_is_rejected[streamed]", "test_digest_mismatch_is_rejected[chunked]"),
        middleware=accept_wrong_digest,
    ),
    Variant(
        "mount-always-201", "every mount answers 201 without mounting anything",
        select="test_mount_from_other_repository or test_mount_of_missing_blob",
        must_fail=("test_mount_from_other_repository", "test_mount_of_missing_blob"),
        middleware=mount_always_201,
    ),
    Variant(
        "mount-missing-blob-201", "a mount of a blob that does not exist answers 201 instead of 202",
        select="test_mount_of_missing_blob",
        must_fail=("test_mount_of_missing_blob",),
        middleware=rewrite(on("POST", UPLOADS, "mount"), declined_mount_201),
    ),
    Variant(
        "isolation-broken", "blobs of one repository are served from every other repository",
        select="test_repository_isolation",
        must_fail=("test_repository_isolation",),
        middleware=blobs_shared_across_repositories,
    ),
    Variant(
        "blob-bytes-corrupted", "blob GET flips one byte of the content",
        select="test_blob_get",
        must_fail=("test_blob_get",),
        middleware=rewrite(on("GET", BLOB), flip_a_byte),
    ),
    Variant(
        "blob-digest-header-wrong", "blob GET/HEAD carry a Docker-Content-Digest of other content",
        select="test_blob_get or test_blob_head",
        must_fail=("test_blob_get", "test_blob_head"),
        middleware=rewrite(on(("GET", "HEAD"), BLOB), set_header("Docker-Content-Digest", WRONG_DIGEST)),
    ),
    Variant(
        "blob-head-content-length-wrong", "blob HEAD announces Content-Length: 0",
        select="test_blob_head",
        must_fail=("test_blob_head",),
        middleware=rewrite(on("HEAD", BLOB), set_header("Content-Length", "0")),
    ),
    Variant(
        "head-with-body", "blob HEAD sends a body after the headers",
        select="test_blob_head",
        must_fail=("test_blob_head",),
        middleware=head_with_body,
    ),
    Variant(
        "range-ignored-but-206", "Range requests get the whole blob with status 206",
        select="test_blob_range and not unsatisfiable",
        must_fail=("test_blob_range[first-last]", "test_blob_range[open-ended]", "test_blob_range[suffix]"),
        middleware=range_ignored_but_206,
    ),
    Variant(
        "range-end-off-by-one", "bytes=a-b is served as a-(b+1)",
        select="test_blob_range",
        must_fail=("test_blob_range[first-last]",),
        middleware=range_end_off_by_one,
    ),
    Variant(
        "unsatisfiable-range-206", "a range beyond the end answers 206 instead of 416",
        select="test_blob_range_unsatisfiable",
        must_fail=("test_blob_range_unsatisfiable",),
        middleware=unsatisfiable_range_206,
    ),
    Variant(
        "manifest-digest-header-wrong", "manifest GET/HEAD carry a Docker-Content-Digest of other content",
        select="test_manifest_get or test_manifest_head",
        must_fail=("test_manifest_get[", "test_manifest_head["),
        middleware=rewrite(on(("GET", "HEAD"), MANIFEST), set_header("Docker-Content-Digest", WRONG_DIGEST)),
    ),
    Variant(
        "manifest-list-served-as-oci-index", "a Docker manifest list comes back labelled as an OCI index",
        select="test_manifest_get or test_manifest_content_negotiation",
        must_fail=("test_manifest_get[docker-manifest-list-tag]", "test_manifest_get[docker-manifest-list-digest]",
                   "test_manifest_content_negotiation[docker-manifest-list]"),
        middleware=rewrite(on("GET", MANIFEST), manifest_list_as_index),
    ),
    Variant(
        "unknown-blob-served-empty", "GET/HEAD of an unknown blob answer 200 with an empty body",
        select="test_blob_unknown",
        must_fail=("test_blob_unknown",),
        middleware=unknown_blob_served_empty,
    ),
    Variant(
        "manifest-miss-is-blob-unknown", "GET of an unknown manifest answers 404 BLOB_UNKNOWN",
        select="test_manifest_unknown",
        must_fail=("test_manifest_unknown",),
        middleware=manifest_miss_is_blob_unknown,
    ),
    Variant(
        "negotiation-labels-first-accepted", "with several types in Accept, Content-Type is the first one listed",
        select="test_manifest_content_negotiation",
        must_fail=("test_manifest_content_negotiation[oci-index]", "test_manifest_content_negotiation[docker-manifest]",
                   "test_manifest_content_negotiation[docker-manifest-list]"),
        middleware=rewrite(several_types, label_with_first_accepted),
    ),
    Variant(
        "negotiation-reencodes", "with several types in Accept, the manifest is served re-serialised",
        select="test_manifest_content_negotiation",
        must_fail=("test_manifest_content_negotiation[oci-manifest]", "test_manifest_content_negotiation[oci-index]",
                   "test_manifest_content_negotiation[docker-manifest]", "test_manifest_content_negotiation[artifact]"),
        middleware=rewrite(several_types, reencoded),
    ),
    Variant(
        "digest-algorithm-always-sha512", "a ?digest-algorithm= session hashes with sha512 whatever it names",
        select="test_upload_digest_algorithm",
        must_fail=("test_upload_digest_algorithm[sha256]",),
        middleware=algorithm_always_sha512(),
    ),
    Variant(
        "sha512-blobs-unreadable", "sha512 uploads are accepted but the blob is not served by its sha512 digest",
        select="test_upload_digest_algorithm",
        must_fail=("test_upload_digest_algorithm[sha512]",),
        middleware=sha512_blobs_unreadable,
    ),
    Variant(
        "mount-without-from-links-nothing", "POST ?mount= without from answers 201 but the blob is not linked",
        select="test_mount_without_from",
        must_fail=("test_mount_without_from",),
        middleware=mount_without_from_links_nothing,
    ),
]
