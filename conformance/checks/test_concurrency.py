"""Concurrency checks: what parallel clients do to the same blob, tag and upload, as CI fleets and
pull-through caches do every day. A registry that corrupts or loses data under parallel clients
fails; one that serialises them passes. Every check uses at most WORKERS threads, each with its own
client (own connection, own token), and ends within the client's request timeout.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import requests

from conformance.rules import rule, unsupported
from conformance.steps import assert_blob, chunks_of, close_session, patch_chunk, start_session
from registry_harness import builders
from registry_harness.builders import random_bytes
from registry_harness.client import UPLOAD_MODES, RegistryClient
from registry_harness.digests import digest_of

WORKERS = 6
BLOB_SIZE = 96 * 1024
SETTLE = 0.5  # seconds after an acknowledged write before it is read back once more
DELETE_ROUNDS = 3
TAG = "raced"

T = TypeVar("T")


def _worker(client: RegistryClient) -> RegistryClient:
    """A client of its own for one thread (requests sessions are not shared across threads)."""
    return client.sibling()


def _new_blob(repo: str, cleanup) -> tuple[bytes, str]:
    """Random blob bytes and their digest, registered for cleanup in ``repo``."""
    data = random_bytes(BLOB_SIZE)
    digest = digest_of(data)
    cleanup.blob(repo, digest)
    return data, digest


def parallel(calls: Sequence[Callable[[], T]]) -> list[T]:
    """Run ``calls`` at once (released together by a barrier) on at most WORKERS threads; every
    exception is re-raised in the caller, the first one first."""
    barrier = threading.Barrier(min(len(calls), WORKERS))

    def run(call: Callable[[], T]) -> T:
        try:
            barrier.wait(timeout=30)
        except threading.BrokenBarrierError:
            pass
        return call()

    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="conformance-parallel") as pool:
        futures = [pool.submit(contextvars.copy_context().run, run, call) for call in calls]
        return [future.result() for future in futures]


@rule("end-4a", "MUST", "concurrency",
      "one blob pushed by several clients at once (every upload mode) is stored once, byte for byte")
def test_same_blob_pushed_at_once(client: RegistryClient, repo: str, cleanup) -> None:
    data, digest = _new_blob(repo, cleanup)
    workers = [_worker(client) for _ in range(WORKERS)]
    modes = [UPLOAD_MODES[i % len(UPLOAD_MODES)] for i in range(WORKERS)]
    pushed = parallel([lambda w=w, m=m: w.push_blob(repo, data, m, chunk_size=BLOB_SIZE // 4)
                       for w, m in zip(workers, modes, strict=True)])
    assert pushed == [digest] * WORKERS
    assert_blob(client, repo, digest, data, f"after {WORKERS} parallel pushes of the same blob ({', '.join(modes)})")


@rule("end-7a", "MUST", "concurrency",
      "a tag moved by several clients at once ends on one of the pushed manifests, and reads agree with the "
      "write right after it")
def test_racing_tag_moves(client: RegistryClient, repo: str, cleanup) -> None:
    images = [builders.build_image((300 + i,)) for i in range(WORKERS + 1)]
    for image in images:  # blobs first, one by one: the race is about the tag alone
        for blob in image.blobs:
            client.push_blob(repo, blob.data)
            cleanup.blob(repo, blob.digest)
        cleanup.manifest(repo, image.digest)
    cleanup.tag(repo, TAG)
    racers, last = images[:-1], images[-1]
    digests = {image.digest for image in images}

    def move(worker: RegistryClient, image: builders.Manifest) -> str:
        worker.put_manifest(repo, TAG, image.manifest, image.media_type, expect=201)
        by_digest = worker.get_manifest(repo, image.digest, accept=image.media_type, expect=200)
        assert by_digest.content == image.manifest, \
            f"right after PUT {TAG}, GET by its digest {image.digest} served other bytes"
        now = worker.get_manifest(repo, TAG, accept=image.media_type, expect=200)
        assert digest_of(now.content) in digests, (
            f"right after PUT {TAG}, GET {TAG} served {len(now.content)} bytes that are none of the manifests "
            "pushed to it (mixed or corrupted)")
        return image.digest

    parallel([lambda w=_worker(client), i=image: move(w, i) for image in racers])
    settled = client.get_manifest(repo, TAG, accept=racers[0].media_type, expect=200)
    winner = digest_of(settled.content)
    assert winner in {image.digest for image in racers}, \
        f"after the race {TAG} serves {winner}, none of the {len(racers)} manifests pushed to it"
    head = client.get_manifest(repo, TAG, accept=racers[0].media_type, method="HEAD", expect=200)
    reported = head.headers.get("Docker-Content-Digest")
    assert reported in (None, winner), f"after the race HEAD {TAG} reports {reported}, GET serves {winner}"
    client.put_manifest(repo, TAG, last.manifest, last.media_type, expect=201)
    after = client.get_manifest(repo, TAG, accept=last.media_type, expect=200)
    assert after.content == last.manifest, (
        f"right after a last PUT {TAG} ({last.digest}), GET {TAG} still serves {digest_of(after.content)}: "
        "reads lag behind the write")


@rule("end-5", "MUST", "concurrency",
      "upload sessions for the same digest run at once stay apart: each completes with 201 and the blob is intact")
def test_concurrent_sessions_same_digest(client: RegistryClient, repo: str, cleanup) -> None:
    data, digest = _new_blob(repo, cleanup)
    workers = [_worker(client) for _ in range(WORKERS)]
    sessions = [start_session(worker, repo) for worker in workers]
    size = max(BLOB_SIZE // 4, *(s.min_chunk for s in sessions))
    pieces = chunks_of(data, size)

    def upload(worker: RegistryClient, session) -> requests.Response:
        received = 0
        for offset, chunk in pieces[:-1]:
            received = patch_chunk(worker, session, chunk, offset, received)
        offset, final = pieces[-1]
        return close_session(worker, session, digest, final, offset,
                             f"closing PUT of one of {WORKERS} sessions for the same digest")

    parallel([lambda w=w, s=s: upload(w, s) for w, s in zip(workers, sessions, strict=True)])
    assert_blob(client, repo, digest, data, f"after {WORKERS} concurrent sessions for one digest")


@rule("end-10", "MUST", "concurrency",
      "a blob pushed while the same digest is being deleted is, once its push is acknowledged again, kept intact")
def test_push_while_deleting(client: RegistryClient, repo: str, cleanup) -> None:
    data, digest = _new_blob(repo, cleanup)
    client.push_blob(repo, data)
    deleter, pusher = _worker(client), _worker(client)
    for round_number in range(1, DELETE_ROUNDS + 1):
        deleted, _ = parallel([lambda: deleter.delete_blob(repo, digest),
                               lambda: pusher.push_blob(repo, data, "monolithic")])
        if deleted.status_code in (400, 405):
            unsupported(f"blob deletion is not supported ({deleted.status_code})")
        assert deleted.status_code in (202, 404), deleter.explain(deleted, (202, 404), "DELETE during a push")
        head = client.head_blob(repo, digest)
        assert head.status_code in (200, 404), client.explain(head, (200, 404), f"HEAD after round {round_number}")
        if head.status_code == 200:
            assert_blob(client, repo, digest, data, f"after round {round_number} of delete and push at once")
    client.push_blob(repo, data)
    time.sleep(SETTLE)
    assert_blob(client, repo, digest, data,
                f"{SETTLE:g} s after a push acknowledged once the racing deletes had answered")
