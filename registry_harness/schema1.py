"""Signed Docker schema1 manifests (``application/vnd.docker.distribution.manifest.v1+prettyjws``).

Build, sign, verify and take apart schema1 documents, and convert a schema2 manifest plus its
image config into schema1 the way Distribution 2.x does when an old client asks for a manifest
by tag without accepting schema2.

The digest of a signed schema1 manifest is NOT the hash of the document: it is the hash of the
JWS payload, i.e. the document without its ``signatures`` member. The payload is recovered from
the ``formatLength`` and ``formatTail`` fields of each signature's protected header.

Public API: :func:`generate_key`, :func:`key_id`, :func:`public_jwk`, :func:`sign`,
:func:`build`, :func:`from_schema2`, :func:`payload`, :func:`digest`, :func:`verify`,
:func:`go_json`, and the constants :data:`EMPTY_GZIP_TAR` / :data:`EMPTY_GZIP_TAR_DIGEST`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from registry_harness.digests import digest_of

SIGNED_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v1+prettyjws"
INDENT = "   "

# The gzipped empty tar archive Docker uses for layers that change nothing (1024 zero bytes).
EMPTY_GZIP_TAR = bytes([
    31, 139, 8, 0, 0, 9, 110, 136, 0, 255, 98, 24, 5, 163, 96, 20, 140, 88,
    0, 8, 0, 0, 255, 255, 46, 175, 181, 239, 0, 4, 0, 0,
])
EMPTY_GZIP_TAR_DIGEST = "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"

_CURVES = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1}
_EC_ALGORITHMS = {"ES256": hashes.SHA256, "ES384": hashes.SHA384, "ES512": hashes.SHA512}
_RSA_ALGORITHMS = {"RS256": hashes.SHA256, "RS384": hashes.SHA384, "RS512": hashes.SHA512}


class Schema1Error(ValueError):
    """A schema1 document that cannot be parsed, verified or produced."""


@dataclass(frozen=True)
class SignedManifest:
    """A signed schema1 document: the bytes to serve, the JWS payload, and its digest."""

    body: bytes
    payload: bytes
    digest: str


@dataclass(frozen=True)
class Conversion:
    """The result of :func:`from_schema2`; ``uses_empty_layer`` says the empty tar blob is referenced."""

    manifest: SignedManifest
    uses_empty_layer: bool


# JSON the way Go's encoding/json writes it -----------------------------------------------------

_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_GO_ESCAPE_RE = re.compile("[<>&\u2028\u2029]")


def _go_escape(text: str) -> str:
    return _GO_ESCAPE_RE.sub(lambda m: _GO_ESCAPES[m.group()], text)


def go_json(value: Any, indent: str | None = None, prefix: str = "") -> bytes:
    """Encode ``value`` as Go's ``json.Marshal`` (or ``MarshalIndent(prefix, indent)``) would.

    Keys keep the order of the given dicts (Go's struct field order); ``<``, ``>``, ``&`` and
    U+2028/U+2029 are escaped as Go does; non-ASCII text stays UTF-8.
    """
    if indent is None:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = json.dumps(value, ensure_ascii=False, indent=indent)
        if prefix:
            text = text.replace("\n", "\n" + prefix)
    return _go_escape(text).encode("utf-8", "replace")


def _compact_raw(raw: str) -> str:
    """Go's compaction of a raw JSON value: drop insignificant whitespace, escape HTML characters."""
    out: list[str] = []
    in_string = escaped = False
    for char in raw:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            out.append(_GO_ESCAPES.get(char, char))
        elif char in " \t\r\n":
            continue
        else:
            if char == '"':
                in_string = True
            out.append(char)
    return "".join(out)


_WS = re.compile(r"[ \t\r\n]*")


def _raw_members(text: str) -> dict[str, str]:
    """Top-level members of a JSON object as raw (unparsed) value texts; a repeated key keeps the last."""
    decoder = json.JSONDecoder()
    index = _WS.match(text, 0).end()
    if text[index:index + 1] != "{":
        raise Schema1Error("image config is not a JSON object")
    index = _WS.match(text, index + 1).end()
    members: dict[str, str] = {}
    if text[index:index + 1] == "}":
        return members
    while True:
        if text[index:index + 1] != '"':
            raise Schema1Error("malformed image config")
        key, index = json.decoder.scanstring(text, index + 1)
        index = _WS.match(text, index).end()
        if text[index:index + 1] != ":":
            raise Schema1Error("malformed image config")
        index = _WS.match(text, index + 1).end()
        _, end = decoder.raw_decode(text, index)
        members[key] = text[index:end]
        index = _WS.match(text, end).end()
        if text[index:index + 1] == ",":
            index = _WS.match(text, index + 1).end()
            continue
        if text[index:index + 1] == "}":
            return members
        raise Schema1Error("malformed image config")


_TIME_RE = re.compile(
    r"^(\d{4}-\d\d-\d\d)[Tt](\d\d:\d\d:\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:\d\d)$"
)


def _go_time(value: Any) -> str:
    """Re-format an RFC 3339 time as Go's time.Time JSON (RFC3339Nano, trailing zeros trimmed)."""
    if value is None:
        return "0001-01-01T00:00:00Z"
    match = _TIME_RE.match(value) if isinstance(value, str) else None
    if not match:
        raise Schema1Error(f"invalid time in image history: {value!r}")
    date, clock, fraction, offset = match.groups()
    fraction = (fraction or "")[:9].rstrip("0")
    offset = "Z" if offset in ("Z", "z", "+00:00", "-00:00") else offset
    return f"{date}T{clock}{'.' + fraction if fraction else ''}{offset}"


# Keys and signatures --------------------------------------------------------------------------

def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_key() -> ec.EllipticCurvePrivateKey:
    """A fresh EC P-256 signing key (what Distribution generates when none is configured)."""
    return ec.generate_private_key(ec.SECP256R1())


def key_id(public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey) -> str:
    """The libtrust key id: SHA-256 of the DER public key, first 240 bits, base32 in 12 groups of 4."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(encoded[i:i + 4] for i in range(0, len(encoded), 4))


def public_jwk(public_key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    """The JWK of an EC public key with libtrust's field order (crv, kid, kty, x, y)."""
    numbers = public_key.public_numbers()
    size = (public_key.curve.key_size + 7) // 8
    curve = {v.name: k for k, v in _CURVES.items()}[public_key.curve.name]
    return {
        "crv": curve,
        "kid": key_id(public_key),
        "kty": "EC",
        "x": _b64url(numbers.x.to_bytes(size, "big")),
        "y": _b64url(numbers.y.to_bytes(size, "big")),
    }


def sign(unsigned: bytes, key: ec.EllipticCurvePrivateKey, *, now: float | None = None) -> bytes:
    """Sign a schema1 manifest written with a 3-space indent; return the prettyjws document.

    ``unsigned`` becomes the JWS payload; the protected header records where the payload's
    closing brace starts (``formatLength``) and what follows it (``formatTail``).
    """
    stripped = unsigned.rstrip(b" \t\r\n")
    if not stripped.endswith(b"}"):
        raise Schema1Error("payload must be a JSON object")
    format_length = len(stripped[:-1].rstrip(b" \t\r\n"))
    if unsigned[format_length - 1:format_length] == b",":
        raise Schema1Error("payload has a trailing comma")
    moment = time.gmtime(time.time() if now is None else now)
    protected_header = {
        "formatLength": format_length,
        "formatTail": _b64url(unsigned[format_length:]),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", moment),
    }
    protected = _b64url(go_json(protected_header))
    signing_input = f"{protected}.{_b64url(unsigned)}".encode()
    curve_hash = {256: hashes.SHA256, 384: hashes.SHA384, 521: hashes.SHA512}[key.curve.key_size]
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(curve_hash())))
    size = (key.curve.key_size + 7) // 8
    algorithm = {256: "ES256", 384: "ES384", 521: "ES512"}[key.curve.key_size]
    signatures = [{
        "header": {"jwk": public_jwk(key.public_key()), "alg": algorithm},
        "signature": _b64url(r.to_bytes(size, "big") + s.to_bytes(size, "big")),
        "protected": protected,
    }]
    tail = b',\n' + INDENT.encode() + b'"signatures": ' + go_json(signatures, INDENT, INDENT) + b"\n}"
    return unsigned[:format_length] + tail


def build(
    name: str,
    tag: str,
    fs_layers: Sequence[str],
    history: Sequence[str],
    *,
    architecture: str = "amd64",
    key: ec.EllipticCurvePrivateKey | None = None,
    now: float | None = None,
) -> SignedManifest:
    """Build and sign a schema1 manifest.

    ``fs_layers`` are blob digests, top layer first (schema1 order); ``history`` holds one
    ``v1Compatibility`` JSON string per layer, in the same order.
    """
    if len(fs_layers) != len(history):
        raise Schema1Error("fs_layers and history must have the same length")
    document = {
        "schemaVersion": 1,
        "name": name,
        "tag": tag,
        "architecture": architecture,
        "fsLayers": [{"blobSum": blob} for blob in fs_layers],
        "history": [{"v1Compatibility": entry} for entry in history],
    }
    unsigned = go_json(document, INDENT)
    body = sign(unsigned, key or generate_key(), now=now)
    return SignedManifest(body=body, payload=unsigned, digest=digest_of(unsigned))


# Taking signed documents apart ------------------------------------------------------------------

def _signatures(body: bytes) -> list[dict]:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Schema1Error(f"not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise Schema1Error("not a JSON object")
    signatures = document.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise Schema1Error("no signatures")
    if not all(isinstance(s, dict) for s in signatures):
        raise Schema1Error("malformed signatures")
    return signatures


def _protected(signature: dict) -> dict:
    try:
        header = json.loads(_b64url_decode(signature["protected"]))
    except (KeyError, ValueError, TypeError) as exc:
        raise Schema1Error(f"malformed protected header: {exc}") from None
    if not isinstance(header, dict):
        raise Schema1Error("malformed protected header")
    return header


def payload(body: bytes) -> bytes:
    """The JWS payload of a signed schema1 document (the manifest without its signatures)."""
    length: int | None = None
    tail: bytes | None = None
    for signature in _signatures(body):
        header = _protected(signature)
        this_length, this_tail = header.get("formatLength"), header.get("formatTail")
        if not isinstance(this_length, int) or not isinstance(this_tail, str):
            raise Schema1Error("protected header lacks formatLength/formatTail")
        try:
            decoded_tail = _b64url_decode(this_tail)
        except ValueError:
            raise Schema1Error("malformed formatTail") from None
        if length is not None and (length, tail) != (this_length, decoded_tail):
            raise Schema1Error("signatures disagree on the payload format")
        length, tail = this_length, decoded_tail
    assert length is not None and tail is not None
    if not 0 < length <= len(body):
        raise Schema1Error("invalid formatLength")
    return body[:length] + tail


def digest(body: bytes, algorithm: str = "sha256") -> str:
    """The digest a registry reports for a signed schema1 document: the hash of its payload."""
    return digest_of(payload(body), algorithm)


def _public_key(header: dict) -> Any:
    jwk = header.get("jwk")
    if isinstance(jwk, dict):
        try:
            if jwk.get("kty") == "EC":
                curve = _CURVES[jwk["crv"]]()
                x = int.from_bytes(_b64url_decode(jwk["x"]), "big")
                y = int.from_bytes(_b64url_decode(jwk["y"]), "big")
                return ec.EllipticCurvePublicNumbers(x, y, curve).public_key()
            if jwk.get("kty") == "RSA":
                n = int.from_bytes(_b64url_decode(jwk["n"]), "big")
                e = int.from_bytes(_b64url_decode(jwk["e"]), "big")
                return rsa.RSAPublicNumbers(e, n).public_key()
        except (KeyError, ValueError, TypeError) as exc:
            raise Schema1Error(f"malformed jwk: {exc}") from None
        raise Schema1Error(f"unsupported key type {jwk.get('kty')!r}")
    chain = header.get("x5c")
    if isinstance(chain, list) and chain and isinstance(chain[0], str):
        try:
            return x509.load_der_x509_certificate(base64.b64decode(chain[0])).public_key()
        except ValueError as exc:
            raise Schema1Error(f"malformed x5c: {exc}") from None
    raise Schema1Error("signature header carries no key")


def verify(body: bytes) -> bytes:
    """Check every signature of a signed schema1 document; return its payload or raise Schema1Error."""
    data = payload(body)
    encoded_payload = _b64url(data)
    for signature in _signatures(body):
        header = signature.get("header")
        if not isinstance(header, dict):
            raise Schema1Error("signature without header")
        key = _public_key(header)
        algorithm = header.get("alg")
        signing_input = f"{signature.get('protected')}.{encoded_payload}".encode()
        try:
            raw = _b64url_decode(str(signature.get("signature", "")))
            if isinstance(key, ec.EllipticCurvePublicKey) and algorithm in _EC_ALGORITHMS:
                half = len(raw) // 2
                der = encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
                key.verify(der, signing_input, ec.ECDSA(_EC_ALGORITHMS[algorithm]()))
            elif isinstance(key, rsa.RSAPublicKey) and algorithm in _RSA_ALGORITHMS:
                key.verify(raw, signing_input, padding.PKCS1v15(), _RSA_ALGORITHMS[algorithm]())
            else:
                raise Schema1Error(f"unsupported signature algorithm {algorithm!r}")
        except (InvalidSignature, ValueError) as exc:
            if isinstance(exc, Schema1Error):
                raise
            raise Schema1Error("signature does not verify") from None
    return data


# Conversion from schema2 ----------------------------------------------------------------------

def _v1_compatibility(layer_id: str, parent: str, entry: dict) -> str:
    """The v1Compatibility text Distribution writes for a non-top history entry."""
    document: dict[str, Any] = {"id": layer_id}
    if parent:
        document["parent"] = parent
    if entry.get("comment"):
        document["comment"] = entry["comment"]
    document["created"] = _go_time(entry.get("created"))
    document["container_config"] = {"Cmd": [entry.get("created_by") or ""]}
    if entry.get("author"):
        document["author"] = entry["author"]
    if entry.get("empty_layer"):
        document["throwaway"] = True
    return go_json(document).decode()


def _top_v1_compatibility(config: str, layer_id: str, parent: str, throwaway: bool) -> str:
    """The image config, minus rootfs and history, plus id/parent/throwaway, keys sorted, compact."""
    members = {key: _compact_raw(raw) for key, raw in _raw_members(config).items()}
    members.pop("rootfs", None)
    members.pop("history", None)
    members["id"] = json.dumps(layer_id)
    if parent:
        members["parent"] = json.dumps(parent)
    if throwaway:
        members["throwaway"] = "true"
    parts = [go_json(key).decode() + ":" + members[key] for key in sorted(members)]
    return "{" + ",".join(parts) + "}"


def from_schema2(
    manifest: dict,
    config: bytes,
    name: str,
    tag: str,
    *,
    key: ec.EllipticCurvePrivateKey | None = None,
    now: float | None = None,
) -> Conversion:
    """Convert a schema2 manifest and its image config into a signed schema1 manifest.

    Follows Distribution 2.x: one fsLayer and history entry per config history entry (empty
    layers become the empty tar blob), synthetic v1 ids chained by parent, and the config
    itself (minus rootfs/history) as the top entry's v1Compatibility.
    """
    try:
        config_text = config.decode("utf-8")
        image = json.loads(config_text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Schema1Error(f"image config is not JSON: {exc}") from None
    if not isinstance(image, dict):
        raise Schema1Error("image config is not a JSON object")
    layers = [layer.get("digest") for layer in manifest.get("layers") or [] if isinstance(layer, dict)]
    history = image.get("history") or []
    rootfs = image.get("rootfs")
    if not isinstance(history, list) or not history or not all(isinstance(h, dict) for h in history):
        raise Schema1Error("empty history when trying to create schema1 manifest")
    if not isinstance(rootfs, dict):
        raise Schema1Error("image config has no rootfs")
    diff_ids = rootfs.get("diff_ids") or []
    if len(diff_ids) != len(layers):
        raise Schema1Error("number of descriptors and number of layers in rootfs must match")

    count = len(history)
    fs_layers: list[str] = [""] * count
    v1_history: list[str] = [""] * count
    parent = ""
    layer_index = 0
    uses_empty = False

    def blob_for(entry: dict) -> str:
        nonlocal layer_index, uses_empty
        if entry.get("empty_layer"):
            uses_empty = True
            return EMPTY_GZIP_TAR_DIGEST
        if layer_index >= len(diff_ids):
            raise Schema1Error("too many non-empty layers in History section")
        blob = layers[layer_index]
        layer_index += 1
        return blob

    for position, entry in enumerate(history[:-1]):
        blob = blob_for(entry)
        layer_id = hashlib.sha256(f"{blob.split(':', 1)[1]} {parent}".encode()).hexdigest()
        if position == 0 and rootfs.get("base_layer"):
            parent = hashlib.sha384(str(rootfs["base_layer"]).encode()).hexdigest()[:64]
        reversed_index = count - position - 1
        v1_history[reversed_index] = _v1_compatibility(layer_id, parent, entry)
        fs_layers[reversed_index] = blob
        parent = layer_id

    last = history[-1]
    blob = blob_for(last)
    fs_layers[0] = blob
    top_id = hashlib.sha256(f"{blob.split(':', 1)[1]} {parent} ".encode() + config).hexdigest()
    v1_history[0] = _top_v1_compatibility(config_text, top_id, parent, bool(last.get("empty_layer")))
    signed = build(name, tag, fs_layers, v1_history, architecture=str(image.get("architecture") or ""),
                   key=key, now=now)
    return Conversion(manifest=signed, uses_empty_layer=uses_empty)
