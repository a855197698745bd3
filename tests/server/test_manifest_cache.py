"""The filesystem store keeps tags and manifests in memory: every GET must still reflect each
put, retag, tag delete and manifest delete at once, and a restart must agree with the files."""

from __future__ import annotations

import threading
from pathlib import Path

from reference_server.launcher import start_server
from reference_server.storage.cache import LruCache
from registry_harness.digests import digest_of
from registry_harness.spec import OCI_MANIFEST
from tests.server.helpers import Client, image

ACCEPT = {"Accept": OCI_MANIFEST}


def _got(client: Client, repo: str, reference: str) -> str | None:
    """The digest a GET by ``reference`` serves (checked against the body), or None on 404."""
    response = client.get(f"/v2/{repo}/manifests/{reference}", headers=ACCEPT)
    if response.status_code == 404:
        assert response.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN", response.text
        return None
    assert response.status_code == 200, response.text
    digest = response.headers["Docker-Content-Digest"]
    assert digest_of(response.content) == digest
    return digest


def _served(client: Client, repo: str, reference: str) -> str | None:
    """What GET serves, after checking that HEAD says the same."""
    digest = _got(client, repo, reference)
    head = client.head(f"/v2/{repo}/manifests/{reference}", headers=ACCEPT)
    assert head.status_code == (404 if digest is None else 200)
    assert head.headers.get("Docker-Content-Digest") == digest
    return digest


def test_each_step_is_visible_to_the_next_get(client: Client, repo: str) -> None:
    first, second = image("cache-first"), image("cache-second")
    a = client.push_image(repo, first, "t").headers["Docker-Content-Digest"]
    assert _served(client, repo, "t") == a and _served(client, repo, a) == a  # now warm

    b = client.push_image(repo, second, "t").headers["Docker-Content-Digest"]  # retag
    assert _served(client, repo, "t") == b
    assert _served(client, repo, a) == a  # the old manifest stays by digest

    client.delete(f"/v2/{repo}/manifests/t", 202)  # delete the tag only
    assert _served(client, repo, "t") is None
    assert _served(client, repo, b) == b

    client.push_manifest(repo, "t", first.manifest, first.media_type)  # tag back onto the first
    client.push_manifest(repo, "u", first.manifest, first.media_type)
    assert _served(client, repo, "t") == a and _served(client, repo, "u") == a

    client.delete(f"/v2/{repo}/manifests/{a}", 202)  # delete the manifest: its tags go with it
    for reference in (a, "t", "u"):
        assert _served(client, repo, reference) is None
    assert client.get(f"/v2/{repo}/blobs/{a}").status_code == 404  # not readable as a blob either
    assert _served(client, repo, b) == b

    client.push_manifest(repo, "t", first.manifest, first.media_type)  # and it can come back ...
    assert _served(client, repo, "t") == a and _served(client, repo, a) == a
    assert _served(client, repo, "u") is None  # ... without the tags the delete took away


def test_a_large_manifest_follows_the_same_rules(client: Client, repo: str) -> None:
    big = image("cache-big", annotations={"padding": "x" * (400 * 1024)})  # above what the cache keeps
    digest = client.push_image(repo, big, "big").headers["Docker-Content-Digest"]
    assert client.get(f"/v2/{repo}/manifests/big", 200, headers=ACCEPT).content == big.manifest
    client.delete(f"/v2/{repo}/manifests/{digest}", 202)
    assert _served(client, repo, "big") is None and _served(client, repo, digest) is None


def test_retags_while_readers_keep_the_cache_hot(client: Client, server, repo: str) -> None:
    images = [image(f"cache-churn-{i}") for i in range(3)]
    digests = [client.push_image(repo, img, f"seed{i}").headers["Docker-Content-Digest"]
               for i, img in enumerate(images)]
    stop = threading.Event()
    failures: list[str] = []

    def reader() -> None:
        own = Client(server.url)
        for _ in range(2000):  # bounded; stops as soon as the writer is done
            if stop.is_set():
                return
            try:
                served = _got(own, repo, "moving")
            except AssertionError as exc:
                failures.append(str(exc))
                return
            if served is not None and served not in digests:
                failures.append(served)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        for step in range(24):
            img, digest = images[step % 3], digests[step % 3]
            if step % 4 == 3:
                client.delete(f"/v2/{repo}/manifests/moving", 202)
                assert _served(client, repo, "moving") is None, f"step {step}: deleted tag still served"
            else:
                client.push_manifest(repo, "moving", img.manifest, img.media_type)
                assert _served(client, repo, "moving") == digest, f"step {step}: stale tag served"
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert not failures


def test_a_restart_serves_what_the_files_say(tmp_path: Path) -> None:
    root = tmp_path / "root"
    keep, gone = image("cache-keep"), image("cache-gone")
    with start_server(["--root", str(root)]) as first:
        client = Client(first.url)
        kept = client.push_image("cache/restart", keep, "keep").headers["Docker-Content-Digest"]
        dropped = client.push_image("cache/restart", gone, "gone").headers["Docker-Content-Digest"]
        client.push_manifest("cache/restart", "moved", gone.manifest, gone.media_type)
        client.push_manifest("cache/restart", "moved", keep.manifest, keep.media_type)
        assert _served(client, "cache/restart", "gone") == dropped
        client.delete(f"/v2/cache/restart/manifests/{dropped}", 202)
    with start_server(["--root", str(root)]) as second:
        client = Client(second.url)
        assert _served(client, "cache/restart", "keep") == kept
        assert _served(client, "cache/restart", "moved") == kept
        assert _served(client, "cache/restart", "gone") is None
        assert _served(client, "cache/restart", dropped) is None


def test_the_cache_stays_within_its_bounds() -> None:
    cache: LruCache[str, bytes] = LruCache(max_entries=3, max_weight=10, weigh=len)
    for key in "abc":
        cache.put(key, b"xx")
    cache.get("a")  # a is now the most recently used
    cache.put("d", b"xx")
    assert len(cache) == 3 and cache.get("b") is None and cache.get("a") == b"xx"
    cache.put("e", b"xxxxxx")  # weight 2 + 2 + 6 would be 10 with a, d, e: c goes first
    assert cache.weight <= 10 and cache.get("e") == b"xxxxxx"
    cache.put("huge", b"x" * 11)  # heavier than the whole budget: not kept, nothing else lost
    assert cache.get("huge") is None and cache.get("e") == b"xxxxxx"
    cache.put("e", b"x")
    assert cache.weight == sum(len(cache.get(k) or b"") for k in "acde")
    assert cache.drop_where(lambda key, value: key != "e") == 1 and cache.get("e") is None
