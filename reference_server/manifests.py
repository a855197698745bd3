"""Manifests (end-3, end-7a/b, end-9): validation, byte-exact storage, content negotiation,
and Distribution 2.x's on-the-fly schema2 -> signed schema1 conversion (``--schema1-compat``)."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from reference_server import errors
from reference_server.context import RegistryContext, is_digest_reference, require_digest, require_tag
from reference_server.storage.base import ManifestRecord
from registry_harness import schema1
from registry_harness.digests import DigestError, digest_of, parse_digest
from registry_harness.spec import (
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST_V1,
    DOCKER_MANIFEST_V1_SIGNED,
    DOCKER_MANIFEST_V2,
    INDEX_MEDIA_TYPES,
    MANIFEST_MEDIA_TYPES,
    OCI_INDEX,
    OCI_MANIFEST,
)

GENERIC_CONTENT_TYPES = frozenset({"", "application/json", "application/octet-stream"})
MAX_DEPTH = 64  # nesting of JSON objects and arrays in a manifest (real ones stay under 6)
_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))


# Content negotiation ------------------------------------------------------------------------

class Accept:
    """The media ranges of every ``Accept`` header (comma lists, q-values, wildcards)."""

    def __init__(self, headers: list[str]) -> None:
        self.present = bool(headers)
        self.ranges: list[tuple[str, float]] = []
        for header in headers:
            for item in header.split(","):
                media_type, *params = (part.strip() for part in item.split(";"))
                if not media_type:
                    continue
                quality = 1.0
                for param in params:
                    key, _, value = param.partition("=")
                    if key.strip().lower() == "q":
                        try:
                            quality = float(value)
                        except ValueError:
                            quality = 0.0
                self.ranges.append((media_type.lower(), quality))

    def accepts(self, media_type: str) -> bool:
        """True when ``media_type`` matches a range with q > 0 (no Accept at all accepts anything)."""
        if not self.present:
            return True
        major = media_type.split("/", 1)[0] + "/*"
        best: float | None = None
        for candidate, quality in self.ranges:
            if candidate == media_type:
                return quality > 0
            if candidate in ("*/*", major):
                best = max(best or 0.0, quality)
        return bool(best)

    def lists(self, media_type: str) -> bool:
        """True when ``media_type`` is named explicitly (Distribution ignores wildcards)."""
        return any(candidate == media_type and quality > 0 for candidate, quality in self.ranges)


@functools.lru_cache(maxsize=256)
def parse_accept(headers: tuple[str, ...]) -> Accept:
    """``Accept(headers)``, remembered: clients send the same few Accept headers over and over."""
    return Accept(list(headers))


# Validation -----------------------------------------------------------------------------------

@dataclass
class Parsed:
    """What a manifest PUT carries once validated."""

    media_type: str
    document: dict
    signed_payload: bytes | None = None
    blobs: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    subject: str | None = None


def _invalid(reason: str, **detail: Any) -> errors.RegistryError:
    return errors.manifest_invalid({"reason": reason, **detail})


def _descriptor(value: Any, where: str) -> dict:
    """Check an OCI descriptor's required fields; return it."""
    if not isinstance(value, dict):
        raise _invalid(f"{where} is not a descriptor object")
    if not isinstance(value.get("mediaType"), str) or not value["mediaType"]:
        raise _invalid(f"{where}.mediaType must be a non-empty string")
    try:
        parse_digest(value.get("digest") if isinstance(value.get("digest"), str) else "")
    except DigestError as exc:
        raise _invalid(f"{where}.digest: {exc}") from None
    size = value.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _invalid(f"{where}.size must be a non-negative integer")
    return value


def _platform(value: Any, where: str) -> None:
    """An index entry's ``platform``, when present, is an object whose os and architecture are
    strings (the schema1 conversion picks a list's entry by them)."""
    if value is None:
        return
    if not isinstance(value, dict):
        raise _invalid(f"{where} must be an object")
    for key in ("os", "architecture", "variant", "os.version"):
        if key in value and not isinstance(value[key], str):
            raise _invalid(f"{where}.{key} must be a string")


def _media_type(document: dict, content_type: str) -> str:
    """The manifest's media type from Content-Type, cross-checked with the body's ``mediaType``."""
    declared = document.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise _invalid("mediaType must be a string")
    if content_type in MANIFEST_MEDIA_TYPES:
        if declared and declared != content_type:
            if {declared, content_type} <= {DOCKER_MANIFEST_V1, DOCKER_MANIFEST_V1_SIGNED}:
                return content_type
            raise _invalid("Content-Type does not match the manifest's mediaType",
                           content_type=content_type, media_type=declared)
        return content_type
    if content_type not in GENERIC_CONTENT_TYPES:
        raise _invalid("unsupported manifest media type", content_type=content_type[:200])
    if declared:
        if declared not in MANIFEST_MEDIA_TYPES:
            raise _invalid("unsupported manifest media type", media_type=declared[:200])
        return declared
    if document.get("schemaVersion") == 1:
        return DOCKER_MANIFEST_V1_SIGNED if "signatures" in document else DOCKER_MANIFEST_V1
    return OCI_INDEX if "manifests" in document else OCI_MANIFEST


def too_deep(body: bytes, limit: int = MAX_DEPTH) -> bool:
    """True when ``body``'s JSON arrays and objects nest deeper than ``limit`` (or its brackets do
    not balance), found without parsing it: strings are cut out, every other byte but brackets
    dropped, then innermost pairs removed one level per pass. Each step is a C-speed scan, and a
    run of more than ``limit`` opening brackets ends the search at once."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # too few brackets to nest deeper than the limit
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    run = re.compile(rb"[\[{]{%d}" % (limit + 1))
    for _level in range(limit + 1):
        if not brackets:
            return False
        if run.search(brackets):
            return True
        shorter = brackets.replace(b"[]", b"").replace(b"{}", b"")
        if len(shorter) == len(brackets):
            return True  # unbalanced or mismatched brackets: not JSON anyway
        brackets = shorter
    return bool(brackets)


def parse_manifest(body: bytes, content_type: str) -> Parsed:
    """Parse and validate a manifest body; raise MANIFEST_INVALID / MANIFEST_UNVERIFIED."""
    if too_deep(body):
        raise _invalid(f"JSON nested deeper than {MAX_DEPTH} levels")
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _invalid(f"not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise _invalid("a manifest must be a JSON object")
    media_type = _media_type(document, content_type)
    parsed = Parsed(media_type=media_type, document=document)
    if media_type in (DOCKER_MANIFEST_V1, DOCKER_MANIFEST_V1_SIGNED):
        _check_schema1(body, parsed)
        return parsed
    if document.get("schemaVersion") != 2:
        raise _invalid("schemaVersion must be 2")
    if media_type in INDEX_MEDIA_TYPES:
        children = document.get("manifests")
        if not isinstance(children, list):
            raise _invalid("manifests must be a list")
        parsed.children = [_descriptor(c, f"manifests[{i}]")["digest"] for i, c in enumerate(children)]
        for i, child in enumerate(children):
            _platform(child.get("platform"), f"manifests[{i}].platform")
    else:
        config = _descriptor(document.get("config"), "config")
        layers = document.get("layers")
        if not isinstance(layers, list):
            raise _invalid("layers must be a list")
        parsed.blobs.append(config["digest"])
        for i, layer in enumerate(layers):
            layer = _descriptor(layer, f"layers[{i}]")
            if not layer.get("urls"):  # foreign layers live elsewhere
                parsed.blobs.append(layer["digest"])
    if media_type in (OCI_MANIFEST, OCI_INDEX) and "subject" in document:
        parsed.subject = _descriptor(document["subject"], "subject")["digest"]
    artifact_type = document.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise _invalid("artifactType must be a string")
    return parsed


def _check_schema1(body: bytes, parsed: Parsed) -> None:
    document = parsed.document
    if document.get("schemaVersion") != 1:
        raise _invalid("schemaVersion must be 1")
    layers, history = document.get("fsLayers"), document.get("history")
    if not isinstance(layers, list) or not isinstance(history, list) or len(layers) != len(history):
        raise _invalid("fsLayers and history must be lists of the same length")
    for i, layer in enumerate(layers):
        blob = layer.get("blobSum") if isinstance(layer, dict) else None
        try:
            parsed.blobs.append(str(parse_digest(blob if isinstance(blob, str) else "")))
        except DigestError as exc:
            raise _invalid(f"fsLayers[{i}].blobSum: {exc}") from None
    if "signatures" in document or parsed.media_type == DOCKER_MANIFEST_V1_SIGNED:
        try:
            parsed.signed_payload = schema1.verify(body)
        except schema1.Schema1Error as exc:
            raise errors.manifest_unverified({"reason": str(exc)}) from None


def _referrer_descriptor(parsed: Parsed, digest: str, size: int) -> dict:
    """The descriptor the referrers API lists for this manifest."""
    document = parsed.document
    descriptor: dict[str, Any] = {"mediaType": parsed.media_type, "digest": digest, "size": size}
    artifact_type = document.get("artifactType")
    if not artifact_type and isinstance(document.get("config"), dict):
        artifact_type = document["config"].get("mediaType")
    if artifact_type:
        descriptor["artifactType"] = artifact_type
    if isinstance(document.get("annotations"), dict) and document["annotations"]:
        descriptor["annotations"] = document["annotations"]
    return descriptor


def subject_of(record: ManifestRecord) -> str | None:
    """The ``subject`` digest of a stored manifest, if it has one."""
    if b'"subject"' not in record.body:
        return None
    try:
        subject = json.loads(record.body).get("subject")
        return subject.get("digest") if isinstance(subject, dict) else None
    except (ValueError, AttributeError):
        return None


# Handlers -------------------------------------------------------------------------------------

async def _read_body(request: web.Request, limit: int) -> bytes:
    too_large = errors.manifest_invalid({"reason": "manifest too large", "limit": limit}, status=413)
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    data = bytearray()
    try:
        async for chunk in request.content.iter_any():
            data += chunk
            if len(data) > limit:
                raise too_large
    except (errors.RegistryError, ConnectionError):
        raise
    except Exception:  # noqa: BLE001 - a body cut short is the client's mistake
        raise errors.size_invalid({"reason": "body shorter than Content-Length"}) from None
    return bytes(data)


async def put_manifest(request: web.Request, ctx: RegistryContext, name: str, reference: str
                       ) -> web.StreamResponse:
    """PUT /v2/<name>/manifests/<tag-or-digest>[?tag=a&tag=b] : validate, store byte for byte, 201."""
    url_digest = require_digest(reference) if is_digest_reference(reference) else None
    tags = [] if url_digest else [require_tag(reference)]
    extra_tags = [require_tag(tag) for tag in request.query.getall("tag", [])] if url_digest else []
    body = await _read_body(request, ctx.config.max_manifest_bytes)
    content_type = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    parsed = parse_manifest(body, content_type)
    algorithm = url_digest.split(":", 1)[0] if url_digest else "sha256"
    digest = digest_of(parsed.signed_payload if parsed.signed_payload is not None else body, algorithm)
    if url_digest and digest != url_digest:
        raise errors.digest_invalid({"expected": url_digest, "computed": digest})
    for blob in parsed.blobs:
        if not ctx.storage.repo_has_blob(name, blob):
            raise errors.manifest_blob_unknown(blob)
    for child in parsed.children:
        if ctx.storage.manifest_get(name, child) is None:
            raise errors.manifest_blob_unknown(child)
    record = ManifestRecord(digest=digest, media_type=parsed.media_type, body=body)
    descriptor = _referrer_descriptor(parsed, digest, len(body)) if parsed.subject else None
    async with ctx.locked(f"repo:{name}"):
        await ctx.storage.manifest_put(name, record, tags + extra_tags, parsed.subject, descriptor)
    headers = CIMultiDict({
        "Location": f"/v2/{name}/manifests/{digest}",
        "Docker-Content-Digest": digest,
        "Content-Length": "0",
    })
    if parsed.subject and ctx.config.referrers_enabled:
        headers["OCI-Subject"] = parsed.subject
    for tag in extra_tags:
        headers.add("OCI-Tag", tag)
    return web.Response(status=201, headers=headers)


def _resolve(ctx: RegistryContext, name: str, reference: str) -> ManifestRecord:
    if is_digest_reference(reference):
        digest: str | None = require_digest(reference)
    else:
        digest = ctx.storage.tag_get(name, require_tag(reference))
    record = ctx.storage.manifest_get(name, digest) if digest else None
    if record is None:
        if not ctx.storage.repo_exists(name):
            raise errors.name_unknown(name)
        raise errors.manifest_unknown(reference)
    return record


async def _load_json(ctx: RegistryContext, name: str, digest: str) -> bytes:
    if not ctx.storage.repo_has_blob(name, digest) or ctx.storage.blob_size(digest) is None:
        raise errors.manifest_invalid({"reason": "config blob missing", "digest": digest})
    return ctx.storage.blob_read(digest)


async def _as_schema1(ctx: RegistryContext, name: str, tag: str, record: ManifestRecord
                      ) -> tuple[str, bytes, str]:
    """Distribution's rewrite of a schema2 manifest into a freshly signed schema1 document."""
    manifest = json.loads(record.body)
    config = await _load_json(ctx, name, manifest["config"]["digest"])
    try:
        converted = schema1.from_schema2(manifest, config, name, tag, key=ctx.signing_key)
    except schema1.Schema1Error as exc:
        raise errors.manifest_invalid({"reason": str(exc)}) from None
    except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
        # A config of the wrong shape somewhere deep (a number where a list belongs...): the
        # stored manifest is fine, it just has no schema1 form.
        raise errors.manifest_invalid({"reason": f"image config cannot be converted to schema1: {exc!r}"[:300]}
                                      ) from None
    if converted.uses_empty_layer and not ctx.storage.repo_has_blob(name, schema1.EMPTY_GZIP_TAR_DIGEST):
        if ctx.storage.blob_size(schema1.EMPTY_GZIP_TAR_DIGEST) is None:
            await ctx.storage.blob_put(schema1.EMPTY_GZIP_TAR_DIGEST, schema1.EMPTY_GZIP_TAR)
        await ctx.storage.link_blob(name, schema1.EMPTY_GZIP_TAR_DIGEST)
    signed = converted.manifest
    return DOCKER_MANIFEST_V1_SIGNED, signed.body, signed.digest


async def _distribution_negotiation(ctx: RegistryContext, name: str, reference: str,
                                    record: ManifestRecord, accept: Accept) -> tuple[str, bytes, str]:
    """Distribution 2.x's rules: OCI types only when named in Accept; schema2 and lists fetched by
    tag without being named are rewritten as signed schema1."""
    media_type = record.media_type
    by_tag = not is_digest_reference(reference)
    if media_type in (OCI_MANIFEST, OCI_INDEX) and not accept.lists(media_type):
        kind = "OCI index" if media_type == OCI_INDEX else "OCI manifest"
        raise errors.manifest_unknown(reference, f"{kind} found, but accept header does not support it")
    if by_tag and media_type == DOCKER_MANIFEST_LIST and not accept.lists(DOCKER_MANIFEST_LIST):
        chosen = None
        for entry in json.loads(record.body).get("manifests", []):
            platform = entry.get("platform")  # checked at PUT; a list stored before may still be odd
            if not isinstance(platform, dict):
                continue
            if platform.get("os") == "linux" and platform.get("architecture") == "amd64":
                chosen = ctx.storage.manifest_get(name, entry.get("digest", ""))
                break
        if chosen is None:
            raise errors.manifest_unknown(reference, "no matching manifest for linux/amd64 in the manifest list")
        record = chosen
        media_type = record.media_type
    if by_tag and media_type == DOCKER_MANIFEST_V2 and not accept.lists(DOCKER_MANIFEST_V2):
        return await _as_schema1(ctx, name, reference, record)
    return media_type, record.body, record.digest


async def get_manifest(request: web.Request, ctx: RegistryContext, name: str, reference: str
                       ) -> web.StreamResponse:
    """GET/HEAD /v2/<name>/manifests/<tag-or-digest> : the stored bytes when acceptable, else 404."""
    record = _resolve(ctx, name, reference)
    accept = parse_accept(tuple(request.headers.getall("Accept", ())))
    if ctx.config.schema1_compat:
        media_type, body, digest = await _distribution_negotiation(ctx, name, reference, record, accept)
    else:
        if not accept.accepts(record.media_type):
            raise errors.manifest_unknown(
                reference, f"manifest of type {record.media_type} is not acceptable to the client")
        media_type, body, digest = record.media_type, record.body, record.digest
    headers = {"Docker-Content-Digest": digest, "ETag": f'"{digest}"', "X-Content-Type-Options": "nosniff"}
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match and any(tag.strip().strip('"') in (digest, "*") for tag in if_none_match.split(",")):
        return web.Response(status=304, headers=headers)
    return web.Response(status=200, body=body, content_type=None, headers={**headers, "Content-Type": media_type})


async def delete_manifest(request: web.Request, ctx: RegistryContext, name: str, reference: str
                          ) -> web.StreamResponse:
    """DELETE /v2/<name>/manifests/<tag-or-digest> : 202; by digest its tags go too."""
    if not ctx.config.delete_enabled:
        raise errors.unsupported({"reason": "deletion is disabled on this registry"})
    async with ctx.locked(f"repo:{name}"):
        if is_digest_reference(reference):
            digest = require_digest(reference)
            record = ctx.storage.manifest_get(name, digest)
            if record is None or not await ctx.storage.manifest_delete(name, digest, subject_of(record)):
                if not ctx.storage.repo_exists(name):
                    raise errors.name_unknown(name)
                raise errors.manifest_unknown(reference)
        elif not await ctx.storage.tag_delete(name, require_tag(reference)):
            if not ctx.storage.repo_exists(name):
                raise errors.name_unknown(name)
            raise errors.manifest_unknown(reference)
    return web.Response(status=202, headers={"Content-Length": "0"})
