"""The seed document's case on real Distribution 2.8: a converted schema1 digest cannot delete the image.

Distribution 2.8 answers a GET by tag whose Accept lacks schema2 with a freshly signed schema1
document (with or without ``compatibility.schema1.enabled``, and without any signing key file:
it signs with a key generated at start-up). Its Docker-Content-Digest is the hash of the JWS
payload, a digest the registry never stored: DELETE with it is 404 MANIFEST_UNKNOWN, and only the
digest of the stored schema2 manifest deletes the image.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_harness import spec
from registry_harness.builders import build_image
from registry_harness.digests import digest_of
from tests.peers.support import client_for, missing_peer

REPO, TAG = "redis", "7.0.5-bullseye"


def jws_payload(document: bytes) -> bytes:
    """The signed payload of a prettyjws manifest: the body cut at formatLength plus formatTail."""
    protected = json.loads(document)["signatures"][0]["protected"]
    header = json.loads(base64.urlsafe_b64decode(protected + "=" * (-len(protected) % 4)))
    tail = base64.urlsafe_b64decode(header["formatTail"] + "=" * (-len(header["formatTail"]) % 4))
    return document[: header["formatLength"]] + tail


@pytest.fixture
def empty_schema1_distribution(tmp_path: Path) -> Iterator[str]:
    """A Distribution 2.8 of its own with ``compatibility.schema1.enabled``: the seed's catalog holds only redis."""
    from registry_harness.peers import distribution_binary, start_distribution

    if distribution_binary() is None:
        missing_peer("Distribution is not installed (apt-get install docker-registry)")
    with start_distribution(tmp_path, schema1=True) as url:
        yield url


def test_delete_by_converted_schema1_digest_is_manifest_unknown(empty_schema1_distribution: str) -> None:
    client = client_for(empty_schema1_distribution)
    image = build_image((2000, 3000), "docker", real_layers=True)
    pushed = client.push_image(REPO, image, TAG)
    stored = pushed.headers["Docker-Content-Digest"]
    assert stored == image.digest

    assert client.catalog(expect=200).json() == {"repositories": [REPO]}
    assert client.tags_list(REPO, expect=200).json() == {"name": REPO, "tags": [TAG]}

    # Like the seed's `http get .../manifests/7.0.5-bullseye`: an Accept without schema2.
    converted = client.get_manifest(REPO, TAG, accept="application/json", expect=200)
    assert converted.headers["Content-Type"] == spec.DOCKER_MANIFEST_V1_SIGNED
    document = converted.json()
    assert document["schemaVersion"] == 1 and document["name"] == REPO and document["tag"] == TAG
    assert [layer["blobSum"] for layer in document["fsLayers"]] == [b.digest for b in reversed(image.layers)]
    reported = converted.headers["Docker-Content-Digest"]
    assert reported != stored
    assert reported == digest_of(jws_payload(converted.content)), "digest is not the hash of the JWS payload"
    assert reported != digest_of(converted.content), "the digest covers the payload, not the signed body"

    refused = client.delete_manifest(REPO, reported, expect=404)
    assert [e["code"] for e in refused.json()["errors"]] == ["MANIFEST_UNKNOWN"]

    # The stored digest, as a GET that accepts schema2 reports it, deletes the image.
    current = client.get_manifest(REPO, TAG, accept=spec.DOCKER_MANIFEST_V2, expect=200)
    assert current.headers["Docker-Content-Digest"] == stored
    assert current.content == image.manifest
    client.delete_manifest(REPO, stored, expect=202)
    assert client.get_manifest(REPO, stored).status_code == 404
    assert client.get_manifest(REPO, TAG).status_code == 404


def test_default_distribution_converts_too_and_the_flag_only_governs_schema1_pushes(
    distribution: str, distribution_schema1: str
) -> None:
    """Distribution 2.8.2 converts on GET whatever its config says; compatibility.schema1 only admits schema1 PUTs."""
    image = build_image((1500,), "docker", real_layers=True)
    for url in (distribution, distribution_schema1):
        client_for(url).push_image("seed/flag", image, TAG)
    plain = client_for(distribution)
    converted = plain.get_manifest("seed/flag", TAG, accept="application/json", expect=200)
    assert converted.headers["Content-Type"] == spec.DOCKER_MANIFEST_V1_SIGNED
    assert converted.headers["Docker-Content-Digest"] == digest_of(jws_payload(converted.content))

    # Pushing that signed document back: refused by the default config (with a 500 UNKNOWN, not a 4xx) ...
    refused = plain.put_manifest("seed/flag", "schema1", converted.content, spec.DOCKER_MANIFEST_V1_SIGNED)
    assert refused.status_code == 500
    assert [e["code"] for e in refused.json()["errors"]] == ["UNKNOWN"]
    # ... and stored under its payload digest when compatibility.schema1.enabled is set.
    accepted = client_for(distribution_schema1).put_manifest(
        "seed/flag", "schema1", converted.content, spec.DOCKER_MANIFEST_V1_SIGNED, expect=201)
    assert accepted.headers["Docker-Content-Digest"] == converted.headers["Docker-Content-Digest"]
