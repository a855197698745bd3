"""What only the reference server's tests need, built on the shared client and builders: the strict
status/version-header/error-code assertion, verb methods that take it inline, and small test images."""

from __future__ import annotations

import hashlib
from typing import Any

import requests

from registry_harness.builders import Manifest, build_image
from registry_harness.client import RegistryClient
from registry_harness.target import parse_target

LAYER_SIZE = 160

# A shell Cmd and an Env value with characters Go's JSON encoder escapes: the schema1 conversion
# must reproduce them exactly as Distribution does.
EXECUTION = {"Cmd": ["/bin/sh"], "Env": ["A=<b>&c"]}


def describe(response: requests.Response) -> str:
    """Method, URL, status and body of an exchange, for assertion messages."""
    request = response.request
    return f"{request.method} {request.url} -> {response.status_code} {response.text[:500]!r}"


def expect(response: requests.Response, status: int, code: str | None = None) -> requests.Response:
    """Assert the status, the version header (and the spec error code in the JSON body, when given)."""
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


def history(layers: int) -> list[dict[str, object]]:
    """Config history: one dated entry per layer (the first with a fractional second that Docker
    trims), then an ``empty_layer`` entry, as a schema1 conversion expects."""
    return [{"created": "2023-02-28T05:10:38.123400Z", "created_by": f"ADD layer {i}"} for i in range(layers)] + [
        {"created": "2023-02-28T05:10:39Z", "created_by": 'CMD ["/bin/sh"]', "empty_layer": True}]


def image(seed: str = "a", *, docker: bool = False, layers: int = 2, annotations: dict[str, str] | None = None,
          config: bytes | None = None) -> Manifest:
    """A small image (Docker schema2 when ``docker``, OCI otherwise) whose bytes depend only on ``seed``.

    Manifest and config are indented (non-canonical bytes, so round trips prove byte-exactness);
    the config carries ``EXECUTION`` and ``history(layers)``, unless ``config`` gives its bytes.
    """
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big")
    return build_image((LAYER_SIZE,) * layers, "docker" if docker else "oci", seed=number, annotations=annotations,
                       history=history(layers), execution=EXECUTION, config=config, indent=2)


class Client(RegistryClient):
    """The shared RegistryClient bound to a server URL; verb methods take the expected status and
    spec error code inline (``client.get(path, 404, "BLOB_UNKNOWN")``) and check them with ``expect``."""

    def __init__(self, base: str) -> None:
        super().__init__(parse_target(base))
        self.rate_limit_retries = 0  # the server's tests judge every answer as sent: a 429 is never waited out

    def check(self, response: requests.Response, expect: Any, what: str = "") -> None:
        """The shared status check, plus the version header every answer of a V2 registry carries."""
        super().check(response, expect, what)
        assert response.headers.get("Docker-Distribution-API-Version") == "registry/2.0", describe(response)

    def request(self, method: str, path: str, status: int | None = None, code: str | None = None,
                **kw: Any) -> requests.Response:
        """``RegistryClient.request`` (auth, recording, timeouts), then ``expect`` when ``status`` is given."""
        response = super().request(method, path, **kw)
        if status is not None:
            expect(response, status, code)
        return response

    def get(self, path: str, status: int | None = None, code: str | None = None, **kw: Any) -> requests.Response:
        return self.request("GET", path, status, code, **kw)

    def head(self, path: str, status: int | None = None, code: str | None = None, **kw: Any) -> requests.Response:
        return self.request("HEAD", path, status, code, **kw)

    def put(self, path: str, status: int | None = None, code: str | None = None, **kw: Any) -> requests.Response:
        return self.request("PUT", path, status, code, **kw)

    def post(self, path: str, status: int | None = None, code: str | None = None, **kw: Any) -> requests.Response:
        return self.request("POST", path, status, code, **kw)

    def patch(self, path: str, status: int | None = None, code: str | None = None, **kw: Any) -> requests.Response:
        return self.request("PATCH", path, status, code, **kw)

    def delete(self, path: str, status: int | None = None, code: str | None = None, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, status, code, **kw)

    def push_manifest(self, repo: str, reference: str, body: bytes, media_type: str, status: int = 201,
                      code: str | None = None, **kw: Any) -> requests.Response:
        """``put_manifest`` (``tags=`` for ``?tag=``), then ``expect(status, code)``."""
        return expect(self.put_manifest(repo, reference, body, media_type, **kw), status, code)

    def push_image(self, repo: str, image: Any, reference: str | None = None, mode: str = "monolithic",
                   **kw: Any) -> requests.Response:
        """The shared push (missing blobs, then the manifest); also asserts that the registry names
        the manifest by the digest of the bytes sent."""
        response = expect(super().push_image(repo, image, reference, mode, **kw), 201)
        assert response.headers["Docker-Content-Digest"] == image.digest, describe(response)
        return response
