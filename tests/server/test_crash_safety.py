"""kill -9 at any moment: after a restart on the same root every acknowledged push is intact and
no partial blob or manifest is ever visible."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from pathlib import Path

from reference_server.launcher import start_server
from registry_harness.client import RegistryError
from registry_harness.digests import digest_of
from tests.server.helpers import Client, image


def _store_is_consistent(root: Path) -> None:
    """Every stored blob hashes to its name; every manifest to its digest; every tag resolves."""
    for directory, _dirs, files in os.walk(root / "blobs"):
        for name in files:
            assert not name.startswith(".tmp-"), "temporary file left visible"
            algorithm = Path(directory).parent.name
            data = (Path(directory) / name).read_bytes()
            assert hashlib.new(algorithm, data).hexdigest() == name, f"partial blob {algorithm}:{name}"
    for manifests in root.glob("repositories/**/_manifests"):
        for path in manifests.iterdir():
            if path.name.startswith("."):
                continue
            media_type, _, body = path.read_bytes().partition(b"\n")
            algorithm, hex_part = path.name.split("-", 1)
            assert media_type and hashlib.new(algorithm, body).hexdigest() == hex_part
        for tag in (manifests.parent / "_tags").glob("*"):
            if not tag.name.startswith("."):
                assert (manifests / tag.read_text().replace(":", "-", 1)).exists(), f"dangling tag {tag}"


def test_kill_mid_upload_and_mid_manifest_put(tmp_path: Path) -> None:
    root = tmp_path / "root"
    server = start_server(["--root", str(root)])
    client = Client(server.url)
    done = image("done")
    client.push_image("crash/repo", done, "done")

    # An upload in flight: one chunk acknowledged, a second one streaming when the kill comes.
    big = os.urandom(6 * 1024 * 1024)
    location = client.post("/v2/crash/repo/blobs/uploads/", 202).headers["Location"]
    client.patch(location, 202, data=big[:1024 * 1024], headers={"Content-Range": f"0-{1024 * 1024 - 1}"})
    release = threading.Event()

    def slow_body():
        yield big[1024 * 1024:3 * 1024 * 1024]
        release.wait(10)
        yield big[3 * 1024 * 1024:]

    def stream() -> None:
        try:
            Client(server.url).patch(location, data=slow_body(), timeout=10)
        except RegistryError:
            pass

    streamer = threading.Thread(target=stream)
    streamer.start()
    deadline = time.monotonic() + 10
    while int(client.get(location, 204).headers["Range"].split("-")[1]) < 2 * 1024 * 1024:
        assert time.monotonic() < deadline, "second chunk never arrived"
        time.sleep(0.02)

    # A manifest PUT in flight: headers and half the body sent.
    half_image = image("half")
    for blob in half_image.blobs:
        client.push_blob("crash/repo", blob.data)
    host, port = server.host_port.split(":")
    half_put = socket.create_connection((host, int(port)))
    half_put.sendall(f"PUT /v2/crash/repo/manifests/half HTTP/1.1\r\nHost: {server.host_port}\r\n"
                     f"Content-Type: {half_image.media_type}\r\nContent-Length: {half_image.size}\r\n\r\n"
                     .encode() + half_image.manifest[: half_image.size // 2])
    time.sleep(0.2)

    server.kill()
    release.set()
    streamer.join(10)
    half_put.close()

    _store_is_consistent(root)
    with start_server(["--root", str(root)]) as restarted:
        again = Client(restarted.url)
        manifest = again.get("/v2/crash/repo/manifests/done", 200, headers={"Accept": done.media_type})
        assert manifest.content == done.manifest and manifest.headers["Docker-Content-Digest"] == done.digest
        for blob in done.blobs:
            assert again.get(f"/v2/crash/repo/blobs/{blob.digest}", 200).content == blob.data
        again.get(f"/v2/crash/repo/blobs/{digest_of(big)}", 404, "BLOB_UNKNOWN")
        again.get("/v2/crash/repo/manifests/half", 404, "MANIFEST_UNKNOWN")
        # the interrupted session resumes from whatever prefix reached the disk
        status = again.get(location, 204)
        received = int(status.headers["Range"].split("-")[1]) + 1
        assert 1024 * 1024 <= received <= len(big)
        again.put(location, 201, params={"digest": digest_of(big)}, data=big[received:],
                  headers={"Content-Range": f"{received}-{len(big) - 1}"})
        assert again.get(f"/v2/crash/repo/blobs/{digest_of(big)}", 200).content == big
    _store_is_consistent(root)


def test_kill_during_a_stream_of_pushes(tmp_path: Path) -> None:
    root = tmp_path / "root"
    server = start_server(["--root", str(root)])
    acknowledged: list[tuple[str, bytes, str]] = []
    stop = threading.Event()

    def pusher() -> None:
        client = Client(server.url)
        for i in range(10_000):
            if stop.is_set():
                return
            img = image(f"stream-{i}", layers=1)
            try:
                for blob in img.blobs:
                    client.push_blob("crash/stream", blob.data)
                client.push_manifest("crash/stream", f"t{i}", img.manifest, img.media_type)
            except (RegistryError, AssertionError):
                return
            acknowledged.append((f"t{i}", img.manifest, img.digest))

    thread = threading.Thread(target=pusher)
    thread.start()
    time.sleep(1.0)
    server.kill()
    stop.set()
    thread.join(10)
    assert acknowledged, "nothing was pushed before the kill"

    _store_is_consistent(root)
    with start_server(["--root", str(root)]) as restarted:
        client = Client(restarted.url)
        for tag, body, digest in acknowledged:
            response = client.get(f"/v2/crash/stream/manifests/{tag}", 200)
            assert response.content == body and response.headers["Docker-Content-Digest"] == digest
