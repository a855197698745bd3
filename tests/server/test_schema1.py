"""Signed schema1: the seed's delete-by-digest case (``--schema1-compat``), the conversion itself,
and its byte-for-byte agreement with Distribution 2.8 when the Debian registry is installed."""

from __future__ import annotations

import base64
import json

import pytest

from registry_harness import schema1
from registry_harness.peers import distribution_binary, start_distribution
from registry_harness.spec import DOCKER_MANIFEST_V1_SIGNED, DOCKER_MANIFEST_V2, OCI_MANIFEST
from tests.server.helpers import Client, image

HTTPIE_ACCEPT = "application/json, */*;q=0.5"


def test_seed_case_converted_digest_is_unknown_stored_digest_deletes(make_server) -> None:
    client = make_server("--schema1-compat")
    img = image("redis", docker=True)
    stored = client.push_image("redis", img, "7.0.5-bullseye").headers["Docker-Content-Digest"]

    catalog = client.get("/v2/_catalog", 200).json()
    assert catalog == {"repositories": ["redis"]}
    assert client.get("/v2/redis/tags/list", 200).json() == {"name": "redis", "tags": ["7.0.5-bullseye"]}

    fetched = client.get("/v2/redis/manifests/7.0.5-bullseye", 200, headers={"Accept": HTTPIE_ACCEPT})
    assert fetched.headers["Content-Type"] == DOCKER_MANIFEST_V1_SIGNED
    converted = fetched.headers["Docker-Content-Digest"]
    assert fetched.headers["ETag"] == f'"{converted}"'
    assert converted == schema1.digest(fetched.content) != stored
    document = json.loads(fetched.content)
    assert list(document) == ["schemaVersion", "name", "tag", "architecture", "fsLayers", "history", "signatures"]
    assert (document["schemaVersion"], document["name"], document["tag"]) == (1, "redis", "7.0.5-bullseye")
    assert document["fsLayers"][0]["blobSum"] == schema1.EMPTY_GZIP_TAR_DIGEST
    signature = document["signatures"][0]
    assert list(signature["header"]["jwk"]) == ["crv", "kid", "kty", "x", "y"]
    assert signature["header"]["alg"] == "ES256"
    protected = json.loads(base64.urlsafe_b64decode(signature["protected"] + "=="))
    assert list(protected) == ["formatLength", "formatTail", "time"] and protected["formatTail"] == "Cn0"
    schema1.verify(fetched.content)
    client.get(f"/v2/redis/blobs/{schema1.EMPTY_GZIP_TAR_DIGEST}", 200)

    deleted = client.delete(f"/v2/redis/manifests/{converted}", 404, "MANIFEST_UNKNOWN")
    assert deleted.json()["errors"][0]["message"] == "manifest unknown"

    real = client.get("/v2/redis/manifests/7.0.5-bullseye", 200, headers={"Accept": DOCKER_MANIFEST_V2})
    assert real.headers["Docker-Content-Digest"] == stored and real.content == img.manifest
    client.delete(f"/v2/redis/manifests/{stored}", 202)
    client.get("/v2/redis/manifests/7.0.5-bullseye", 404, "MANIFEST_UNKNOWN")


def test_compat_mode_serves_digests_unconverted_and_oci_only_when_named(make_server) -> None:
    client = make_server("--schema1-compat", "--storage", "memory")
    docker = image("bydigest", docker=True)
    digest = client.push_image("r", docker, "d").headers["Docker-Content-Digest"]
    by_digest = client.get(f"/v2/r/manifests/{digest}", 200, headers={"Accept": HTTPIE_ACCEPT})
    assert by_digest.content == docker.manifest
    oci = image("oci")
    client.push_image("r", oci, "o")
    client.get("/v2/r/manifests/o", 404, "MANIFEST_UNKNOWN", headers={"Accept": "*/*"})
    client.get("/v2/r/manifests/o", 200, headers={"Accept": OCI_MANIFEST})


def test_without_compat_mode_nothing_is_converted(client: Client, repo: str) -> None:
    img = image("plain", docker=True)
    client.push_image(repo, img, "v1")
    response = client.get(f"/v2/{repo}/manifests/v1", 200, headers={"Accept": HTTPIE_ACCEPT})
    assert response.content == img.manifest and response.headers["Content-Type"] == DOCKER_MANIFEST_V2


def test_conversion_is_deterministic_apart_from_the_signature() -> None:
    img = image("det", docker=True)
    first = schema1.from_schema2(img.json(), img.config.data, "lib/x", "t", now=0)
    second = schema1.from_schema2(img.json(), img.config.data, "lib/x", "t", now=3600)
    assert first.manifest.payload == second.manifest.payload
    assert first.manifest.digest == second.manifest.digest
    assert first.manifest.body != second.manifest.body
    assert schema1.payload(second.manifest.body) == first.manifest.payload
    history = json.loads(first.manifest.payload)["history"]
    top = json.loads(history[0]["v1Compatibility"])
    assert "rootfs" not in top and "history" not in top and top["throwaway"] is True
    assert json.loads(history[-1]["v1Compatibility"])["created"] == "2023-02-28T05:10:38.1234Z"


def test_conversion_needs_history() -> None:
    img = image("nohistory", docker=True)
    config = json.loads(img.config.data)
    config["history"] = []
    with pytest.raises(schema1.Schema1Error):
        schema1.from_schema2(img.json(), json.dumps(config).encode(), "x", "t")


@pytest.mark.skipif(distribution_binary() is None, reason="Debian docker-registry not installed")
def test_conversion_matches_distribution_byte_for_byte(tmp_path) -> None:
    with start_distribution(tmp_path) as base:
        client = Client(base)
        config_doc = json.loads(image("peer", docker=True, layers=3).config.data)
        config_doc["history"].insert(1, {"created": "2020-01-01T00:00:00+02:00", "empty_layer": True,
                                         "author": "a <b>", "comment": "x & y"})
        config_doc["number"] = 1.50e3
        img = image("peer", docker=True, layers=3, config=json.dumps(config_doc, indent=3).encode())
        client.push_image("lib/peer", img, "v1")
        theirs = client.get("/v2/lib/peer/manifests/v1", 200, headers={"Accept": "application/json"})
        ours = schema1.from_schema2(img.json(), img.config.data, "lib/peer", "v1").manifest
        assert schema1.payload(theirs.content) == ours.payload
        assert theirs.headers["Docker-Content-Digest"] == ours.digest
        schema1.verify(theirs.content)
