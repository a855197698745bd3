"""A full disk is the server's problem: writes answer 507 with a spec body naming the cause, one
ERROR line each in the log and no traceback, no temporary file is left behind, reads keep working,
and writes succeed again as soon as space is freed. Runs on a 4 MiB tmpfs of its own."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from reference_server.launcher import start_server
from registry_harness.digests import digest_of
from tests.server.helpers import Client, image

SIZE = 4 << 20


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs mounted for this test (skipped when this machine does not allow mounting)."""
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0700", "tmpfs", str(mountpoint)],
                                 capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield mountpoint
    finally:
        if subprocess.run(["umount", str(mountpoint)], capture_output=True, timeout=20).returncode != 0:
            subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True, timeout=20)


def fill(path: Path, leave: int) -> None:
    """Write ``path`` until the disk is full, then give back ``leave`` bytes."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        block = b"\0" * 65536
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, block)
        os.ftruncate(fd, max(os.fstat(fd).st_size - leave, 0))
    finally:
        os.close(fd)


def temporaries(root: Path) -> list[str]:
    return [os.path.join(d, name) for d, _dirs, files in os.walk(root) for name in files if name.startswith(".tmp-")]


def test_full_disk_is_507_logged_once_cleaned_up_and_recovers(small_disk: Path) -> None:
    root = small_disk / "root"
    with start_server(["--root", str(root), "--log-level", "INFO"]) as server:
        client = Client(server.url)
        stored = image("stored")
        client.push_image("disk/app", stored, "v1")
        big = image("big", annotations={"note": "x" * 200_000})  # a 200 KB manifest
        for blob in big.blobs:
            client.push_blob("disk/app", blob.data)
        session = client.post("/v2/disk/app/blobs/uploads/", 202).headers["Location"]
        client.patch(session, 202, data=b"a" * 1000)
        layer = os.urandom(1 << 20)

        fill(small_disk / "filler", leave=64 << 10)
        full = [
            client.post(f"/v2/disk/app/blobs/uploads/?digest={digest_of(layer)}", data=layer),
            client.patch(session, data=layer),
            client.put_manifest("disk/app", "big", big.manifest, big.media_type),
        ]
        for response in full:
            assert response.status_code == 507, response.text
            error = response.json()["errors"][0]
            assert error["code"] == "UNKNOWN" and error["detail"]["reason"] == "no space left on device", error
        assert client.get(session, 204).headers["Range"] == "0-999", "the failed chunk must not be kept"
        assert temporaries(root) == [], "a failed write left its temporary file"
        assert len(os.listdir(root / "uploads")) == 1, "the failed single-POST upload left its session"

        client.get("/v2/disk/app/manifests/v1", 200)  # reads keep working
        client.get(f"/v2/disk/app/blobs/{stored.layers[0].digest}", 200)
        client.get("/v2/disk/app/tags/list", 200)
        client.get("/v2/_catalog", 200)

        log = server.stderr_text()
        errors = [line for line in log.splitlines() if " ERROR " in line]
        assert len(errors) == len(full) and all("no space left on device" in line for line in errors), log
        assert "Traceback" not in log and "body shorter" not in log, log

        os.unlink(small_disk / "filler")  # space is back: so are writes
        client.patch(session, 202, data=layer)
        client.put(f"{session}?digest={digest_of(b'a' * 1000 + layer)}", 201)
        client.push_manifest("disk/app", "big", big.manifest, big.media_type)
        assert client.get("/v2/disk/app/manifests/big", 200).content == big.manifest
        assert client.push_blob("disk/app", layer) == digest_of(layer)
        assert client.get(f"/v2/disk/app/blobs/{digest_of(layer)}", 200).content == layer
        assert temporaries(root) == []
