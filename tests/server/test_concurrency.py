"""Many clients pushing the same blob, manifest or tag at once leave one consistent state."""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

from registry_harness.digests import digest_of
from tests.server.helpers import Client, image

WORKERS = 12


def _parallel(count: int, task) -> list:
    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(task, range(count)))


def test_same_blob_from_many_clients(server, repo: str) -> None:
    data = os.urandom(2 * 1024 * 1024)

    def push(i: int) -> str:
        return Client(server.url).push_blob(repo, data, "monolithic" if i % 2 else "streamed")

    assert set(_parallel(WORKERS, push)) == {digest_of(data)}
    fetched = Client(server.url).get(f"/v2/{repo}/blobs/{digest_of(data)}", 200)
    assert hashlib.sha256(fetched.content).hexdigest() == digest_of(data).split(":")[1]


def test_same_manifest_and_tag_from_many_clients(server, repo: str) -> None:
    img = image("concurrent")
    Client(server.url).push_image(repo, img, "seed")

    def push(i: int) -> str:
        response = Client(server.url).push_manifest(repo, "same", img.manifest, img.media_type)
        return response.headers["Docker-Content-Digest"]

    assert set(_parallel(WORKERS * 2, push)) == {img.digest}
    client = Client(server.url)
    assert client.get(f"/v2/{repo}/tags/list", 200).json()["tags"] == ["same", "seed"]


def test_racing_pushes_to_one_tag_leave_it_on_one_complete_manifest(server, repo: str) -> None:
    images = [image(f"race-{i}") for i in range(WORKERS)]
    setup = Client(server.url)
    for img in images:
        for blob in img.blobs:
            setup.push_blob(repo, blob.data)

    def push(i: int) -> str:
        img = images[i]
        return Client(server.url).push_manifest(repo, "contested", img.manifest, img.media_type).headers[
            "Docker-Content-Digest"]

    pushed = set(_parallel(WORKERS, push))
    final = setup.get(f"/v2/{repo}/manifests/contested", 200)
    assert final.headers["Docker-Content-Digest"] in pushed
    assert digest_of(final.content) == final.headers["Docker-Content-Digest"]
    assert setup.get(f"/v2/{repo}/tags/list", 200).json()["tags"] == ["contested"]
