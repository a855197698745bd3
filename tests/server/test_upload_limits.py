"""Caps and leaks: open upload sessions are limited per repository and in total (429 with
Retry-After beyond), ended sessions free their place (also after a restart and on expiry), the
expiry sweep gives the event loop its turn, and per-name locks are forgotten after use."""

from __future__ import annotations

import asyncio
import time

import pytest

from reference_server.app import create_app
from reference_server.config import ServerConfig
from reference_server.context import CONTEXT_KEY, RegistryContext
from reference_server.launcher import serve_in_thread
from reference_server.storage import FilesystemStorage, MemoryStorage
from reference_server.uploads import expire_sessions
from registry_harness.digests import digest_of
from tests.server.helpers import Client, image


def open_session(client: Client, repo: str) -> str:
    return client.post(f"/v2/{repo}/blobs/uploads/", 202).headers["Location"]


def refused(client: Client, repo: str, limit: int) -> None:
    response = client.post(f"/v2/{repo}/blobs/uploads/", 429, "TOOMANYREQUESTS")
    assert int(response.headers["Retry-After"]) > 0
    assert response.json()["errors"][0]["detail"]["limit"] == limit


def test_sessions_are_capped_per_repository_and_in_total(make_server) -> None:
    client = make_server("--storage", "memory", "--max-uploads-per-repo", "3", "--max-uploads", "5")
    first = [open_session(client, "cap/a") for _ in range(3)]
    refused(client, "cap/a", 3)
    other = [open_session(client, "cap/b") for _ in range(2)]
    refused(client, "cap/c", 5)  # 5 open in total
    refused(client, "cap/a", 5)

    client.delete(first[0], 204)  # a cancelled session frees its place
    replacement = open_session(client, "cap/a")
    refused(client, "cap/a", 5)
    client.put(f"{replacement}?digest={digest_of(b'data')}", 201, data=b"data")  # so does a finished one
    client.put(f"{first[1]}?digest={digest_of(b'wrong')}", 400, "DIGEST_INVALID", data=b"other")  # and a failed one
    digest = client.push_blob("cap/a", b"single post")  # a single-POST upload passes and frees at once
    client.post(f"/v2/cap/d/blobs/uploads/?mount={digest}&from=cap/a", 201)  # a mount opens none
    for location in other:
        client.delete(location, 204)
    open_session(client, "cap/a")
    open_session(client, "cap/a")
    refused(client, "cap/a", 3)


def test_sessions_from_before_a_restart_still_count_and_still_work(make_server, tmp_path) -> None:
    root = tmp_path / "root"
    first = make_server("--max-uploads-per-repo", "2", root=root)
    sessions = [open_session(first, "restart/app") for _ in range(2)]
    first.process.stop()  # type: ignore[attr-defined]
    again = make_server("--max-uploads-per-repo", "2", root=root)
    refused(again, "restart/app", 2)
    again.patch(sessions[0], 202, data=b"resumed")
    again.put(f"{sessions[0]}?digest={digest_of(b'resumed')}", 201)
    open_session(again, "restart/app")


def test_expired_sessions_free_their_place(make_server) -> None:
    client = make_server("--storage", "memory", "--max-uploads", "2", "--upload-ttl", "1")
    open_session(client, "ttl/app")
    open_session(client, "ttl/app")
    refused(client, "ttl/app", 2)
    deadline = time.monotonic() + 15
    while client.post("/v2/ttl/app/blobs/uploads/").status_code == 429:
        assert time.monotonic() < deadline, "expired sessions still hold their places"
        time.sleep(0.25)


def test_locks_are_forgotten_after_pushes_deletes_and_uploads() -> None:
    app = create_app(ServerConfig(storage="memory"))
    with serve_in_thread(app) as url:
        client = Client(url)
        for number in range(8):
            repo = f"locks/repo-{number}"
            img = image(f"locks-{number}")
            client.push_image(repo, img, "v1", mode="chunked")
            client.delete(f"/v2/{repo}/manifests/{img.digest}", 202)
            client.delete(open_session(client, repo), 204)
        ctx = app[CONTEXT_KEY]
        assert ctx._locks == {}, f"{len(ctx._locks)} locks left behind"
        assert len(ctx.sessions) == 0


async def _sweep_beside_a_ticker(ctx: RegistryContext) -> tuple[int, int]:
    """Run the expiry sweep while a task counts its own turns of the event loop."""
    turns = 0
    running = True

    async def ticker() -> None:
        nonlocal turns
        while running:
            turns += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    expired = await expire_sessions(ctx)
    running = False
    await task
    return expired, turns


@pytest.mark.parametrize("storage,count", [("memory", 10_000), ("filesystem", 300)])
def test_expiry_sweep_lets_the_event_loop_run(tmp_path, storage: str, count: int) -> None:
    store = MemoryStorage() if storage == "memory" else FilesystemStorage(tmp_path / "root")
    ctx = RegistryContext(config=ServerConfig(storage=storage, upload_ttl=0.0), storage=store)

    async def scenario() -> tuple[int, int]:
        for number in range(count):
            ctx.sessions.add(await store.upload_create(f"sweep/repo-{number % 7}", "sha256"))
        await asyncio.sleep(0.01)  # every session is now idle for longer than the TTL
        return await _sweep_beside_a_ticker(ctx)

    expired, turns = asyncio.run(scenario())
    assert expired == count and len(ctx.sessions) == 0 and store.uploads() == []
    assert turns >= count // 256, f"the loop ran {turns} times while {count} sessions expired"
