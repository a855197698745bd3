"""The seed document's flow, for real: a Docker engine tags an image ``redis:7.0.5-bullseye`` and pushes
it (docker-py driving a private dockerd), then ``_catalog``, the tags list, the manifest GET as HTTPie
sends it and the delete-by-digest case, judged as the suite's seed area judges them, against the
reference server (with and without ``--schema1-compat``) and Distribution 2.8.2.

docker-py reports a failed push or pull only inside the progress stream (HTTP 200, an
``errorDetail`` record), so every stream is scanned; a test proves a refused push is seen that way.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.checks.test_seed import SCHEMA2_ACCEPT, _unheld_digest, assert_shape, httpie_get, judge_httpie_answer
from conformance.steps import assert_error_code
from registry_harness import builders, spec
from registry_harness.clients import ClientFailure, DockerEngine, rootfs_tar
from registry_harness.digests import digest_of
from registry_harness.target import parse_target
from tests.peers.support import client_for, missing_peer, netloc

REPO, TAG = "redis", "7.0.5-bullseye"
LOCAL = f"{REPO}:{TAG}"  # a local name only: the engine never pulls it from anywhere



@pytest.fixture(params=["reference", "reference-schema1-compat", "distribution-2.8"])
def fresh_registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, bool]]:
    """A registry of its own, empty, so the catalog holds only what the seed pushed; (URL, converts to schema1)."""
    if request.param.startswith("reference"):
        from reference_server.launcher import start_server

        schema1 = ["--schema1-compat"] if request.param.endswith("compat") else []
        with start_server(["--listen", "127.0.0.1:0", "--root", str(tmp_path / "store"), *schema1]) as server:
            yield server.url.rstrip("/"), bool(schema1)
        return
    from registry_harness.peers import distribution_binary, start_distribution

    if distribution_binary() is None:
        missing_peer("Distribution is not installed (apt-get install docker-registry)")
    with start_distribution(tmp_path) as url:
        yield url, True  # Distribution 2.8 converts on GET whatever its config says


def test_docker_tag_push_then_the_seed_requests(engine: DockerEngine, fresh_registry: tuple[str, bool]) -> None:
    url, converts = fresh_registry
    host, client, target = netloc(url), client_for(url), parse_target(url)
    tar = rootfs_tar({"usr/local/bin/redis-server": builders.random_bytes(50_000), "etc/motd": b"seed\n"})
    image_id = engine.import_tar(tar, REPO, TAG)
    try:
        engine.tag(LOCAL, f"{host}/{REPO}", TAG)  # docker tag redis:7.0.5-bullseye HOST/redis:7.0.5-bullseye
        digest = engine.push(f"{host}/{REPO}", TAG, target)  # docker push HOST/redis:7.0.5-bullseye

        catalog = assert_shape(client, client.catalog(headers={"Accept": "*/*"}), "catalog", "GET /v2/_catalog")
        assert catalog == {"repositories": [REPO]}
        tags = assert_shape(client, client.tags_list(REPO, headers={"Accept": "*/*"}), "tags_list", "tags list")
        assert tags == {"name": REPO, "tags": [TAG]}

        stored = client.get_manifest(REPO, TAG, accept=SCHEMA2_ACCEPT, expect=200)
        assert digest_of(stored.content) == digest, "the registry stores other bytes than docker pushed"
        body = stored.json()
        assert body["mediaType"] == spec.DOCKER_MANIFEST_V2 and body["config"]["digest"] == image_id
        blobs = tuple(builders.Blob(client.pull_verified(REPO, d["digest"]), d["mediaType"])
                      for d in [body["config"], *body["layers"]])
        image = builders.Manifest(stored.content, spec.DOCKER_MANIFEST_V2, blobs)

        # `http get HOST/v2/redis/manifests/7.0.5-bullseye`: stored schema2, or Distribution's converted schema1
        reported = judge_httpie_answer(client, httpie_get(client, REPO), REPO, image)
        if converts:  # the seed's case: the reported digest is the JWS payload's, never stored
            assert reported != digest, "a converted schema1 answer reported the stored digest"
        else:
            assert reported == digest, "the stored manifest came back under another digest"
        unheld = _unheld_digest(image, reported)
        refused = client.delete_manifest(REPO, unheld, headers={"Accept": "*/*"})
        assert_shape(client, refused, "delete_reported_digest", f"DELETE by the reported digest {unheld}")
        assert_error_code(client, refused, "MANIFEST_UNKNOWN", what="DELETE by a digest never stored")
        client.get_manifest(REPO, digest, accept=SCHEMA2_ACCEPT, expect=200)  # the refused DELETE deleted nothing

        deleted = client.delete_manifest(REPO, digest, headers={"Accept": "*/*"})
        assert_shape(client, deleted, "delete_stored_digest", f"DELETE by the stored digest {digest}")
        client.get_manifest(REPO, digest, accept=SCHEMA2_ACCEPT, expect=404)

        # and the engine agrees: the deleted image can no longer be pulled, and says so in its stream
        engine.remove(f"{host}/{REPO}:{TAG}")
        with pytest.raises(ClientFailure, match=r"(?i)manifest unknown|not found"):
            engine.pull(f"{host}/{REPO}", TAG, target)
    finally:
        engine.remove(f"{host}/{REPO}:{TAG}", LOCAL, image_id)


def test_a_refused_push_shows_up_in_the_stream(engine: DockerEngine, tmp_path: Path) -> None:
    """docker-py's push returns normally when the registry refuses it: only the stream's errorDetail tells."""
    from reference_server.launcher import start_server

    with start_server(["--listen", "127.0.0.1:0", "--storage", "memory", "--read-only"]) as server:
        host = netloc(server.url)
        image_id = engine.import_tar(rootfs_tar({"etc/motd": b"refused\n"}), f"{host}/{REPO}", TAG)
        try:
            events = list(engine.api.push(f"{host}/{REPO}", tag=TAG, stream=True, decode=True))
            assert any("errorDetail" in event for event in events), events
            with pytest.raises(ClientFailure, match=r"docker push \S+ failed \(engine [^)]+\): .*unsupported"):
                engine.push(f"{host}/{REPO}", TAG, parse_target(server.url))
        finally:
            engine.remove(f"{host}/{REPO}:{TAG}", image_id)
