"""Protocol steps for the checks, each asserting what the spec requires of its answer on the way.

A check reads as the scenario (start a session, send chunks, close, read back) while every
step verifies its own rule: status, ``Location``, ``Range``, digests and bodies. Failure
messages name the step, the rule, and the exchange (method, URL, status, body).
"""

from __future__ import annotations

import json
import re
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from conformance.rules import should
from registry_harness import digests
from registry_harness.client import RegistryClient, with_query

OCTET = {"Content-Type": "application/octet-stream"}
# OCI form ``0-<end>``; Docker's document shows ``bytes=0-<end>``.
_RANGE_RE = re.compile(r"^\s*(bytes=)?0-(\d+)\s*$")
RAW_READ_TIMEOUT = 3.0
RAW_READ_LIMIT = 1 << 20


@dataclass
class Session:
    """An open upload session: where to send the next request, and what the POST said."""

    location: str
    min_chunk: int = 0
    response: requests.Response | None = None


def error_codes(response: requests.Response) -> list[str]:
    """The ``code`` values of a spec error body; [] when the body is not JSON in that shape."""
    try:
        body = json.loads(response.content or b"")
    except ValueError:
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return []
    return [e.get("code") for e in errors if isinstance(e, dict) and isinstance(e.get("code"), str)]


def is_json(response: requests.Response) -> bool:
    """True when the body parses as JSON (the spec constrains error bodies only when they are JSON)."""
    try:
        json.loads(response.content or b"")
    except ValueError:
        return False
    return bool(response.content)


def assert_error_code(client: RegistryClient, response: requests.Response, *codes: str, what: str) -> None:
    """A JSON error body must carry one of ``codes`` (the spec: JSON 4xx bodies MUST use its codes)."""
    if not is_json(response):
        return
    found = error_codes(response)
    assert any(code in found for code in codes), client.explain(response, (), what) + \
        f"\n  error code {' or '.join(codes)} expected, body has {found or 'no spec error codes'}"


def min_chunk_length(client: RegistryClient, response: requests.Response) -> int:
    """``OCI-Chunk-Min-Length`` of a POST answer (0 when absent); it SHOULD be a byte count."""
    value = response.headers.get("OCI-Chunk-Min-Length")
    if value is None:
        return 0
    ok = value.strip().isdigit()
    should(ok, f"OCI-Chunk-Min-Length {value!r} is not a size in bytes")
    return int(value.strip()) if ok else 0


def start_session(client: RegistryClient, repo: str, params: dict[str, str] | None = None,
                  what: str = "POST /v2/<name>/blobs/uploads/ (end-4a)") -> Session:
    """POST an upload session: 202 with a Location (end-4a)."""
    response = client.start_upload(repo, params, headers={"Content-Length": "0"})
    client.check(response, 202, what)
    return Session(client.location(response), min_chunk_length(client, response), response)


def parse_range(client: RegistryClient, response: requests.Response, what: str) -> int:
    """The ``<end>`` of a ``Range: 0-<end>`` answer header (required on PATCH and upload status)."""
    value = response.headers.get("Range")
    assert value is not None, client.explain(response, (), what) + \
        "\n  the answer has no Range header: the spec requires Range: 0-<end-of-range>"
    match = _RANGE_RE.match(value)
    assert match, client.explain(response, (), what) + \
        f"\n  Range {value!r} is not of the form 0-<end-of-range>"
    should(not match.group(1), f"{what}: Range {value!r} uses Docker's 'bytes=' prefix; OCI's form is 0-<end>")
    return int(match.group(2))


def patch_chunk(client: RegistryClient, session: Session, chunk: bytes, offset: int | None,
                received: int) -> int:
    """PATCH one chunk (with Content-Range when ``offset`` is given, else streamed).

    The answer MUST be 202 with a Location (followed from now on) and ``Range: 0-<end>`` where
    end is the last byte received so far (end-5). Returns the new received total.
    """
    headers = dict(OCTET)
    if offset is not None:
        headers["Content-Range"] = f"{offset}-{offset + len(chunk) - 1}"
    what = f"PATCH {len(chunk)} bytes{' at ' + str(offset) if offset is not None else ' (streamed)'} (end-5)"
    response = client.request("PATCH", session.location, data=chunk, headers=headers)
    client.check(response, 202, what)
    session.location = client.location(response)
    total = received + len(chunk)
    end = parse_range(client, response, what)
    assert end == total - 1, client.explain(response, (), what) + \
        f"\n  Range says the last byte received is {end}, but {total} bytes were sent (expected 0-{total - 1})"
    return total


def close_session(client: RegistryClient, session: Session, digest: str, data: bytes | None = None,
                  offset: int | None = None, what: str = "closing PUT ?digest= (end-6)") -> requests.Response:
    """PUT ``<location>?digest=`` (optionally with the final chunk): 201 with a Location (end-6)."""
    headers: dict[str, str] = {}
    if data:
        headers.update(OCTET)
        if offset is not None:
            headers["Content-Range"] = f"{offset}-{offset + len(data) - 1}"
    response = client.request("PUT", with_query(session.location, {"digest": digest}), data=data or b"",
                              headers=headers)
    client.check(response, 201, what)
    client.location(response)  # MUST carry the blob's Location
    client.check_reported_digest(response, digest, what)  # the digest returned is the blob's own
    return response


def chunks_of(data: bytes, size: int) -> list[tuple[int, bytes]]:
    """(offset, chunk) pairs covering ``data``."""
    return [(offset, data[offset:offset + size]) for offset in range(0, len(data), max(size, 1))]


def read_body(client: RegistryClient, response: requests.Response, what: str) -> bytes:
    """The body of a ``stream=True`` response; a body that breaks off fails with status and headers shown."""
    try:
        return response.content
    except (requests.RequestException, RuntimeError) as exc:
        headers = ", ".join(f"{k}: {v}" for k, v in response.headers.items()
                            if k.lower() in ("content-length", "content-range", "content-type", "transfer-encoding"))
        raise AssertionError(
            f"{what}: {response.request.method} {response.url}\n  answered {response.status_code} ({headers}) but the "
            f"body could not be read: {str(exc)[:300]}\n  the body must match the announced Content-Length"
        ) from None


def assert_blob(client: RegistryClient, repo: str, digest: str, data: bytes, what: str = "") -> None:
    """GET the blob: 200, body hashes to ``digest`` and equals ``data``; Docker-Content-Digest matches."""
    label = what or f"GET blob {digest[:19]}… after upload (end-2)"
    response = client.get_blob(repo, digest)
    client.check(response, 200, label)
    assert response.content == data, client.explain(response, (), label) + (
        f"\n  body of {len(response.content)} bytes differs from the {len(data)} bytes uploaded"
        f" (it hashes to {digests.digest_of(response.content, digest.split(':')[0])})")
    assert_digest_header(client, response, digest, label, data)


def assert_digest_header(client: RegistryClient, response: requests.Response, digest: str, what: str,
                         data: bytes | None = None) -> None:
    """Docker-Content-Digest SHOULD be present (1.1; MUST on main) and MUST match when it is.

    A digest of another algorithm is allowed; it must then be valid (and hash ``data`` when given).
    """
    value = response.headers.get("Docker-Content-Digest")
    should(value is not None, f"{what}: no Docker-Content-Digest header")
    if value is None:
        return
    value = value.strip()
    if value.split(":", 1)[0] == digest.split(":", 1)[0]:
        assert value == digest, client.explain(response, (), what) + \
            f"\n  Docker-Content-Digest {value} does not match the content's digest {digest}"
    else:  # another algorithm: it must still be the digest of the same bytes
        assert digests.is_valid_digest(value), client.explain(response, (), what) + \
            f"\n  Docker-Content-Digest {value!r} is not a valid digest"
        if data is not None:
            assert digests.verify(data, value), client.explain(response, (), what) + \
                f"\n  Docker-Content-Digest {value} is not the digest of the content"


def assert_written_blob(client: RegistryClient, repo: str, digest: str, size: int, what: str) -> None:
    """Read back an acknowledged blob write: HEAD answers 200 with the blob's size."""
    response = client.head_blob(repo, digest)
    assert response.status_code == 200, client.explain(response, (200,), f"HEAD {digest[:19]}… after {what}") + \
        "\n  the registry acknowledged the write, but does not hold the blob"
    length = response.headers.get("Content-Length")
    assert length is None or length.strip() == str(size), client.explain(response, (), f"HEAD after {what}") + \
        f"\n  Content-Length {length}, but {size} bytes were written"


def assert_written_manifest(client: RegistryClient, repo: str, reference: str, body: bytes, media_type: str,
                            what: str) -> None:
    """Read back an acknowledged manifest write: GET by ``reference`` serves exactly ``body``."""
    label = f"GET manifests/{reference} after {what}"
    response = client.get_manifest(repo, reference, accept=media_type)
    assert response.status_code == 200, client.explain(response, (200,), label) + \
        "\n  the registry acknowledged the manifest (201), but does not serve it"
    assert response.content == body, client.explain(response, (), label) + \
        f"\n  serves {len(response.content)} bytes ({digests.digest_of(response.content)}) instead of the " \
        f"{len(body)} bytes acknowledged ({digests.digest_of(body)})"


def assert_no_blob(client: RegistryClient, repo: str, digest: str, what: str, must: bool = True) -> bool:
    """HEAD the blob: it must be absent (404). With ``must=False`` a present blob is a SHOULD warning."""
    response = client.head_blob(repo, digest)
    if must:
        assert response.status_code == 404, client.explain(response, (404,), what)
        return True
    return should(response.status_code == 404, f"{what}: HEAD answered {response.status_code}, expected 404")


def blob_location_serves(client: RegistryClient, response: requests.Response, data: bytes, what: str) -> None:
    """The Location of a 201 blob answer is a pullable blob URL: GET it and compare the bytes."""
    location = client.location(response)
    pulled = client.request("GET", location)
    client.check(pulled, 200, f"GET the Location of {what}")
    assert pulled.content == data, client.explain(pulled, (), f"GET the Location of {what}") + \
        f"\n  the blob Location serves {len(pulled.content)} bytes that differ from the {len(data)} uploaded"


def raw_head(client: RegistryClient, path: str, accept: str | None = None) -> tuple[int, bytes]:
    """HEAD over a raw socket: (status, bytes received after the header block).

    ``requests`` never reads a body on HEAD, so a registry that sends one would go unnoticed
    (and corrupt the next response on a kept-alive connection). Uses ``Connection: close`` and
    the Authorization the client already negotiated for this path.
    """
    probe = client.request("HEAD", path, headers={"Accept": accept} if accept else None)
    url = probe.request.url or client.url(path)
    parts = urlsplit(url)
    host = parts.hostname or client.target.host
    port = parts.port or (443 if parts.scheme == "https" else 80)
    lines = [f"HEAD {parts.path}{'?' + parts.query if parts.query else ''} HTTP/1.1",
             f"Host: {parts.netloc}", "Connection: close", "User-Agent: registry-conformance"]
    if accept:
        lines.append(f"Accept: {accept}")
    auth = probe.request.headers.get("Authorization")
    if auth:
        lines.append(f"Authorization: {auth}")
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode()
    data = b""
    with socket.create_connection((host, port), timeout=RAW_READ_TIMEOUT) as sock:
        conn: socket.socket = sock
        if parts.scheme == "https":
            context = ssl.create_default_context(cafile=client.target.ca_bundle or None)
            if client.target.tls == "insecure":
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            conn = context.wrap_socket(sock, server_hostname=host)
        conn.sendall(raw)
        try:
            while len(data) < RAW_READ_LIMIT:
                piece = conn.recv(65536)
                if not piece:
                    break
                data += piece
        except (TimeoutError, OSError):
            pass  # the server kept the connection open: whatever arrived is what we judge
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split()
    status = int(status_line[1]) if len(status_line) > 1 and status_line[1].isdigit() else 0
    return status, rest
