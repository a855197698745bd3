"""Hostile bodies and parameters: compressed uploads and manifests are refused without being
inflated, deeply nested manifests and non-ASCII page sizes are 400s, and with schema1
compatibility an index whose ``platform`` is not an object never gets in (so GET is never a 500)."""

from __future__ import annotations

import gzip
import json

import pytest

from registry_harness.builders import render_json
from registry_harness.digests import digest_of
from registry_harness.spec import DOCKER_MANIFEST_LIST, OCI_MANIFEST
from tests.server.helpers import Client, image

ZEROS = 64 << 20
BOMB = gzip.compress(b"\0" * ZEROS, 9)  # about 64 KiB on the wire, 64 MiB once inflated


def test_gzip_upload_bodies_are_refused_and_nothing_is_stored(client: Client, repo: str) -> None:
    digest = digest_of(b"\0" * ZEROS)
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/octet-stream"}
    refused = client.post(f"/v2/{repo}/blobs/uploads/?digest={digest}", 415, "UNSUPPORTED", data=BOMB,
                          headers=headers)
    assert refused.headers["Accept-Encoding"] == "identity"
    client.head(f"/v2/{repo}/blobs/{digest}", 404)

    location = client.post(f"/v2/{repo}/blobs/uploads/", 202).headers["Location"]
    client.patch(location, 415, "UNSUPPORTED", data=BOMB, headers=headers)
    client.put(f"{location}?digest={digest}", 415, "UNSUPPORTED", data=BOMB, headers=headers)
    assert client.get(location, 204).headers["Range"] == "0-0", "nothing of the body may be kept"
    client.put(f"{location}?digest={digest_of(b'')}", 201)


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "x-custom"])
def test_encoded_manifests_are_refused(client: Client, repo: str, encoding: str) -> None:
    img = image("encoded")
    client.push_image(repo, img, "plain")
    body = gzip.compress(img.manifest) if encoding == "gzip" else img.manifest
    client.put(f"/v2/{repo}/manifests/zipped", 415, "UNSUPPORTED", data=body,
               headers={"Content-Type": OCI_MANIFEST, "Content-Encoding": encoding})
    client.get(f"/v2/{repo}/manifests/zipped", 404, "MANIFEST_UNKNOWN")
    client.put(f"/v2/{repo}/manifests/identity", 201, data=img.manifest,
               headers={"Content-Type": OCI_MANIFEST, "Content-Encoding": "identity"})


def _nested(depth: int) -> object:
    value: object = "leaf"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("depth", [65, 1000, 100_000])
def test_deeply_nested_manifest_is_manifest_invalid(client: Client, repo: str, depth: int) -> None:
    img = image("deep")
    client.push_image(repo, img, "base")
    document = json.loads(img.manifest)
    body = json.dumps(document)[:-1].encode() + b', "x-extra": ' + b"[" * depth + b"]" * depth + b"}"
    response = client.push_manifest(repo, "deep", body, OCI_MANIFEST, 400, "MANIFEST_INVALID")
    assert "nested deeper" in response.json()["errors"][0]["detail"]["reason"]
    unbalanced = json.dumps(document)[:-1].encode() + b', "x-extra": ' + b"[" * depth + b"}"
    client.push_manifest(repo, "deep", unbalanced, OCI_MANIFEST, 400, "MANIFEST_INVALID")


def test_nesting_within_the_limit_is_accepted_byte_for_byte(client: Client, repo: str) -> None:
    img = image("nested-ok")
    client.push_image(repo, img, "base")
    document = json.loads(img.manifest)
    document["x-extra"] = _nested(60)  # an unknown member: kept as sent
    body = render_json(document, indent=2)
    digest = client.push_manifest(repo, "nested", body, OCI_MANIFEST).headers["Docker-Content-Digest"]
    assert client.get(f"/v2/{repo}/manifests/{digest}", 200).content == body


@pytest.mark.parametrize("value", ["²", "٣", "１", "1²", " 1", "+1", "0x1"])
def test_page_size_must_be_ascii_digits(client: Client, repo: str, value: str) -> None:
    img = image("paging")
    client.push_image(repo, img, "t")
    for path in (f"/v2/{repo}/tags/list", "/v2/_catalog", f"/v2/{repo}/referrers/{img.digest}"):
        client.get(path, 400, "PAGINATION_NUMBER_INVALID", params={"n": value})
    assert client.get(f"/v2/{repo}/tags/list", 200, params={"n": "1"}).json()["tags"] == ["t"]


@pytest.mark.parametrize("platform", ["linux/amd64", ["linux", "amd64"], {"os": 1, "architecture": "amd64"},
                                      {"os": "linux", "architecture": None}])
def test_schema1_compat_refuses_an_index_whose_platform_is_not_an_object(make_server, platform: object) -> None:
    client = make_server("--schema1-compat", "--storage", "memory")
    child = image("platform-child", docker=True)
    client.push_image("r", child, "child")
    entry = {"mediaType": child.media_type, "digest": child.digest, "size": child.size, "platform": platform}
    body = render_json({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST_LIST, "manifests": [entry]})
    client.push_manifest("r", "list", body, DOCKER_MANIFEST_LIST, 400, "MANIFEST_INVALID")
    client.get("/v2/r/manifests/list", 404, "MANIFEST_UNKNOWN", headers={"Accept": "*/*"})


@pytest.mark.parametrize("config", [
    {"rootfs": {"type": "layers", "diff_ids": 7}, "history": [{"created_by": "x"}]},
    {"rootfs": {"type": "layers", "diff_ids": []}, "history": [{"created": 5}]},
    {"rootfs": [], "history": [{}]},
    {"rootfs": {"diff_ids": []}, "history": "none"},
    ["not", "an", "object"],
])
def test_schema1_conversion_of_an_odd_config_is_a_4xx_never_a_500(make_server, config: object) -> None:
    client = make_server("--schema1-compat", "--storage", "memory")
    img = image("odd-config", docker=True, layers=0, config=render_json(config))
    client.push_image("odd", img, "v1")
    response = client.get("/v2/odd/manifests/v1", headers={"Accept": "*/*"})
    assert 400 <= response.status_code < 500, response.text
    assert "Traceback" not in client.process.stderr_text()  # type: ignore[attr-defined]
