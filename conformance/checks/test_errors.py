"""Error answers: every client mistake this suite provokes gets the status and the error code that
fit the situation, in the spec's JSON envelope, never a 5xx; HEAD errors carry no body.

The table below is the contract. ``json`` marks answers from the API itself, which the Docker
Registry HTTP API V2 requires in JSON (OCI requires the envelope whenever the body is JSON);
answers a router may give before the API sees the request (malformed names, tags, digests in the
path) are judged by status, and by code only when they are JSON.
"""

from __future__ import annotations

import secrets
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from conformance.rules import docker_rule, rule, unsupported, write_refused
from conformance.steps import is_json
from registry_harness import builders, schemas
from registry_harness.client import RegistryClient, with_query
from registry_harness.digests import digest_of

RAW_TIMEOUT = 5.0


def random_digest() -> str:
    return digest_of(secrets.token_bytes(32))


def absent(repo: str) -> str:
    return f"{repo}-absent-{secrets.token_hex(4)}"


def open_upload(client: RegistryClient, repo: str) -> str:
    """POST a new upload session and return its Location (a refused write ends the check as unsupported)."""
    response = client.start_upload(repo)
    reason = write_refused(response)
    if reason:
        unsupported(reason)
    client.check(response, 202, f"POST /v2/{repo}/blobs/uploads/")
    return client.location(response)


def finished_upload(client: RegistryClient, repo: str) -> str:
    """The Location of an upload session that no longer exists (cancelled, or a made-up id)."""
    location = open_upload(client, repo)
    cancel = client.request("DELETE", location)
    if cancel.status_code in (200, 202, 204):
        return location
    parts = urlsplit(location)
    head, _, _ = parts.path.rpartition("/")
    return parts._replace(path=f"{head}/{secrets.token_hex(16)}").geturl()


@dataclass(frozen=True)
class Situation:
    """A client mistake, how to provoke it, and the answers that fit it."""

    id: str
    provoke: Callable[[RegistryClient, str], object]
    statuses: tuple[int, ...]
    codes: tuple[str, ...]
    json: bool = True


SITUATIONS = (
    Situation("unknown-blob", lambda c, r: c.get_blob(r, random_digest()), (404,), ("BLOB_UNKNOWN",)),
    Situation("unknown-manifest-digest", lambda c, r: c.get_manifest(r, random_digest()), (404,),
              ("MANIFEST_UNKNOWN",)),
    Situation("unknown-manifest-tag", lambda c, r: c.get_manifest(r, f"no-such-tag-{secrets.token_hex(4)}"),
              (404,), ("MANIFEST_UNKNOWN",)),
    Situation("unknown-upload-status", lambda c, r: c.request("GET", finished_upload(c, r)), (404,),
              ("BLOB_UPLOAD_UNKNOWN",)),
    Situation("unknown-upload-patch",
              lambda c, r: c.request("PATCH", finished_upload(c, r), data=b"abc",
                                     headers={"Content-Type": "application/octet-stream", "Content-Range": "0-2"}),
              (404,), ("BLOB_UPLOAD_UNKNOWN",)),
    Situation("unknown-upload-put",
              lambda c, r: c.request("PUT", with_query(finished_upload(c, r), {"digest": digest_of(b"abc")}),
                                     data=b"abc", headers={"Content-Type": "application/octet-stream"}),
              (404,), ("BLOB_UPLOAD_UNKNOWN",)),
    Situation("digest-mismatch-on-upload",
              lambda c, r: c.request("PUT", with_query(open_upload(c, r), {"digest": digest_of(b"other")}),
                                     data=b"abc", headers={"Content-Type": "application/octet-stream"}),
              (400,), ("DIGEST_INVALID",)),
    Situation("malformed-digest-on-upload",
              lambda c, r: c.request("PUT", with_query(open_upload(c, r), {"digest": "sha256:not-hex"}),
                                     data=b"abc", headers={"Content-Type": "application/octet-stream"}),
              (400,), ("DIGEST_INVALID",)),
    Situation("unknown-repository-tags", lambda c, r: c.tags_list(absent(r)), (404,), ("NAME_UNKNOWN",)),
    Situation("unknown-repository-manifest", lambda c, r: c.get_manifest(absent(r), "latest"), (404,),
              ("NAME_UNKNOWN", "MANIFEST_UNKNOWN")),
    Situation("unknown-repository-blob", lambda c, r: c.get_blob(absent(r), random_digest()), (404,),
              ("NAME_UNKNOWN", "BLOB_UNKNOWN")),
    Situation("malformed-digest-in-path", lambda c, r: c.request("GET", f"/v2/{r}/blobs/sha256:not-hex"),
              (400, 404), ("DIGEST_INVALID", "BLOB_UNKNOWN"), json=False),
    Situation("invalid-name", lambda c, r: c.request("GET", "/v2/Invalid_Name--Here/tags/list"), (400, 404),
              ("NAME_INVALID", "NAME_UNKNOWN"), json=False),
    Situation("invalid-name-on-push", lambda c, r: c.request("POST", "/v2/Invalid_Name--Here/blobs/uploads/"),
              (400, 404), ("NAME_INVALID", "NAME_UNKNOWN"), json=False),
    Situation("invalid-tag", lambda c, r: c.get_manifest(r, "-invalid-tag"), (400, 404),
              ("TAG_INVALID", "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "NAME_INVALID"), json=False),
)


@pytest.mark.parametrize("situation", SITUATIONS, ids=[s.id for s in SITUATIONS])
@rule("error-codes", "MUST", "errors",
      "a client mistake gets the fitting 4xx status and error code in the {errors:[{code,message,detail}]} "
      "envelope, never a 5xx")
def test_error_answer_fits_the_situation(client, push_image, repo, situation):
    push_image(layer_sizes=(32,))  # the repository exists, so "unknown" means the blob/manifest/upload
    response = situation.provoke(client, repo)
    if situation.id == "invalid-name-on-push" and write_refused(response):
        unsupported(write_refused(response) or "")
    what = f"{situation.id}: {response.request.method} {urlsplit(response.url).path}"
    schemas.expect_error(client.explain, response, situation.statuses, situation.codes, what, require_json=False)
    if situation.json:  # OCI constrains a JSON body; the Docker document requires the body to be JSON
        docker_rule(is_json(response), client.explain(response, situation.statuses, what)
                    + "\n  the error body is not the JSON error envelope")


@pytest.mark.parametrize("kind", ["blob", "manifest"])
@rule("end-3", "MUST", "errors", "a HEAD answered 404 carries no body (HTTP HEAD semantics)")
def test_head_error_has_no_body(client, push_image, repo, kind):
    push_image(layer_sizes=(32,))
    digest = random_digest()
    path = client.blob_path(repo, digest) if kind == "blob" else client.manifest_path(repo, digest)
    probe = client.request("HEAD", path)
    assert probe.status_code == 404, client.explain(probe, (404,), f"HEAD unknown {kind}")

    status, body = raw_head(client, path, probe.request.headers.get("Authorization"))
    assert status == 404, f"HEAD {path} (raw) answered {status}, expected 404"
    assert body == b"", f"HEAD {path} answered 404 with {len(body)} body bytes after the headers: {body[:200]!r}"


def raw_head(client: RegistryClient, path: str, authorization: str | None) -> tuple[int, bytes]:
    """Send a HEAD over a bare socket and return (status, bytes received after the header block)."""
    target = client.target
    port = target.port or (443 if target.scheme == "https" else 80)
    sock = socket.create_connection((target.host.strip("[]"), port), timeout=RAW_TIMEOUT)
    try:
        if target.scheme == "https":
            context = ssl.create_default_context(cafile=target.ca_bundle) if target.tls != "insecure" \
                else ssl._create_unverified_context()  # noqa: S323 - the user chose --tls insecure
            sock = context.wrap_socket(sock, server_hostname=target.host.strip("[]"))
        lines = [f"HEAD {path} HTTP/1.1", f"Host: {target.netloc}", "Connection: close", "Accept: */*"]
        if authorization:
            lines.append(f"Authorization: {authorization}")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        deadline = time.monotonic() + RAW_TIMEOUT
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            data += chunk
            if len(data) > 1 << 20:
                break
    finally:
        sock.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split()
    status = int(status_line[1]) if len(status_line) > 1 and status_line[1].isdigit() else 0
    return status, rest


@rule("end-13", "MUST", "errors", "an upload answered 404 after cancelling keeps answering 404 (never 5xx)")
def test_cancelled_upload_stays_unknown(client, push_image, repo):
    push_image(layer_sizes=(32,))
    location = open_upload(client, repo)
    cancel = client.request("DELETE", location)
    if cancel.status_code not in (200, 202, 204):
        unsupported(f"cancelling an upload answered {cancel.status_code}; nothing to check after it")
    for attempt in range(2):
        response = client.request("GET", location)
        schemas.expect_error(client.explain, response, 404, "BLOB_UPLOAD_UNKNOWN",
                             f"GET a cancelled upload (attempt {attempt + 1})")
    data = builders.random_bytes(16)
    response = client.request("PUT", with_query(location, {"digest": digest_of(data)}), data=data,
                              headers={"Content-Type": "application/octet-stream"})
    schemas.expect_error(client.explain, response, 404, "BLOB_UPLOAD_UNKNOWN", "PUT to finish a cancelled upload")
