"""A small HTTP client for the reference registry tests, and image material builders."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from urllib.parse import urljoin

import requests

from registry_harness.digests import digest_of
from registry_harness.spec import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST_V2,
    OCI_CONFIG,
    OCI_LAYER,
    OCI_MANIFEST,
)

TIMEOUT = 30


def describe(response: requests.Response) -> str:
    """Method, URL, status and body of an exchange, for assertion messages."""
    request = response.request
    return f"{request.method} {request.url} -> {response.status_code} {response.text[:500]!r}"


def expect(response: requests.Response, status: int, code: str | None = None) -> requests.Response:
    """Assert the status (and the spec error code in the JSON body, when given)."""
    assert response.status_code == status, f"expected {status}: {describe(response)}"
    assert response.headers.get("Docker-Distribution-API-Version") == "registry/2.0", describe(response)
    if code is not None:
        assert error_codes(response) == [code], f"expected {code}: {describe(response)}"
    return response


def error_codes(response: requests.Response) -> list[str]:
    """The codes of a spec error body (asserting its shape)."""
    body = response.json()
    assert set(body) == {"errors"}, describe(response)
    for error in body["errors"]:
        assert {"code", "message", "detail"} <= set(error), describe(response)
    return [error["code"] for error in body["errors"]]


@dataclass
class Image:
    """An image's parts as bytes, and its manifest."""

    config: bytes
    layers: list[bytes]
    manifest: dict
    media_type: str
    extra_blobs: list[bytes] = field(default_factory=list)

    @property
    def body(self) -> bytes:
        return json.dumps(self.manifest, indent=2).encode()

    @property
    def digest(self) -> str:
        return digest_of(self.body)


def image(seed: str = "a", *, docker: bool = False, layers: int = 2) -> Image:
    """A small image (schema2 when ``docker``, OCI otherwise) with a config carrying history."""
    blobs = [f"layer {i} of {seed}".encode() * 10 for i in range(layers)]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"], "Env": ["A=<b>&c"]},
        "rootfs": {"type": "layers", "diff_ids": [digest_of(b"diff" + blob) for blob in blobs]},
        "history": [
            {"created": "2023-02-28T05:10:38.123400Z", "created_by": f"ADD layer {i}"} for i in range(layers)
        ] + [{"created": "2023-02-28T05:10:39Z", "created_by": "CMD [\"/bin/sh\"]", "empty_layer": True}],
    }
    config_bytes = json.dumps(config, indent=1).encode()
    layer_type, config_type, manifest_type = (
        (DOCKER_LAYER, DOCKER_CONFIG, DOCKER_MANIFEST_V2) if docker else (OCI_LAYER, OCI_CONFIG, OCI_MANIFEST))
    manifest = {
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": {"mediaType": config_type, "digest": digest_of(config_bytes), "size": len(config_bytes)},
        "layers": [{"mediaType": layer_type, "digest": digest_of(b), "size": len(b)} for b in blobs],
    }
    return Image(config=config_bytes, layers=blobs, manifest=manifest, media_type=manifest_type)


class Client:
    """requests.Session bound to a registry base URL, with push helpers."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.session = requests.Session()

    def url(self, path: str) -> str:
        return urljoin(self.base + "/", path)

    def request(self, method: str, path: str, status: int | None = None, code: str | None = None,
                **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", TIMEOUT)
        response = self.session.request(method, self.url(path), **kwargs)
        if status is not None:
            expect(response, status, code)
        return response

    def get(self, path: str, status: int | None = None, code: str | None = None, **kw) -> requests.Response:
        return self.request("GET", path, status, code, **kw)

    def head(self, path: str, status: int | None = None, code: str | None = None, **kw) -> requests.Response:
        return self.request("HEAD", path, status, code, **kw)

    def put(self, path: str, status: int | None = None, code: str | None = None, **kw) -> requests.Response:
        return self.request("PUT", path, status, code, **kw)

    def post(self, path: str, status: int | None = None, code: str | None = None, **kw) -> requests.Response:
        return self.request("POST", path, status, code, **kw)

    def patch(self, path: str, status: int | None = None, code: str | None = None, **kw) -> requests.Response:
        return self.request("PATCH", path, status, code, **kw)

    def delete(self, path: str, status: int | None = None, code: str | None = None, **kw) -> requests.Response:
        return self.request("DELETE", path, status, code, **kw)

    def push_blob(self, repo: str, data: bytes, algorithm: str = "sha256") -> str:
        """POST + PUT monolithic upload; return the digest."""
        digest = f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"
        started = self.post(f"/v2/{repo}/blobs/uploads/", 202)
        self.put(started.headers["Location"], 201, params={"digest": digest}, data=data,
                 headers={"Content-Type": "application/octet-stream"})
        return digest

    def push_manifest(self, repo: str, reference: str, body: bytes, media_type: str,
                      status: int = 201, code: str | None = None, **kw) -> requests.Response:
        return self.put(f"/v2/{repo}/manifests/{reference}", status, code, data=body,
                        headers={"Content-Type": media_type}, **kw)

    def push_image(self, repo: str, tag: str, img: Image) -> str:
        """Push config, layers and manifest; return the manifest digest."""
        for blob in [img.config, *img.layers, *img.extra_blobs]:
            self.push_blob(repo, blob)
        response = self.push_manifest(repo, tag, img.body, img.media_type)
        assert response.headers["Docker-Content-Digest"] == img.digest
        return img.digest
