"""Seed the images a profile reads before the load starts, and delete everything pushed afterwards.

Seeding uses an ordinary (unmeasured) RegistryClient, so none of its traffic shows in the stats.
Cleanup tolerates 404 (already gone) and 405 / 400 UNSUPPORTED (deletion switched off) and is
bounded in time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path

from load.images import IMAGE_SIZES, seeded_image
from load.workloads import Pushed
from registry_harness.builders import build_image
from registry_harness.client import RegistryClient, RegistryError

log = logging.getLogger("registry-harness.load")
CLEANUP_SECONDS = 60.0
DELETE_OK = (200, 202, 204, 404, 405)


def seed_pull_images(client: RegistryClient, run_id: str, prefix: str, labels: Iterable[str]) -> list[Pushed]:
    """Push the pull images of the given sizes (skipping blobs already there); what was pushed."""
    pushed = []
    for label in labels:
        if label not in IMAGE_SIZES:
            raise ValueError(f"unknown image size {label!r}")
        seeded = seeded_image(run_id, label, prefix)
        client.push_image(seeded.repo, seeded.image, reference=seeded.tag)
        pushed.append(Pushed(seeded.repo, seeded.digest, [b.digest for b in seeded.image.blobs]))
    return pushed


FAILURE_FILE = "seeding-failed.txt"


def failure_cause(exc: BaseException) -> str:
    """One line naming why seeding failed: the request, the status and the body, or the transport error."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return "; ".join(lines)[:600] if lines else type(exc).__name__


def write_failure(folder: Path, cause: str) -> None:
    """Leave the cause where the runner finds it (the Locust process ends before any summary)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / FAILURE_FILE).write_text(cause + "\n", encoding="utf-8")


def read_failure(folder: Path) -> str | None:
    try:
        return (folder / FAILURE_FILE).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def browse_repo_names(run_id: str, prefix: str, count: int) -> list[str]:
    """Repositories the browse profile seeds (the same in every process of the run)."""
    return [f"{prefix}/{run_id}/browse-{i:03d}" for i in range(count)]


def browse_tag_names(count: int) -> list[str]:
    return [f"t{j:04d}" for j in range(count)]


def seed_browse(client: RegistryClient, run_id: str, prefix: str, repos: int, tags: int) -> list[Pushed]:
    """``repos`` repositories, each holding one small image under ``tags`` tags."""
    pushed = []
    tag_names = browse_tag_names(tags)
    for i, repo in enumerate(browse_repo_names(run_id, prefix, repos)):
        image = build_image((512,), seed=i)
        client.push_image(repo, image, reference=tag_names[0])
        for tag in tag_names[1:]:
            client.put_manifest(repo, tag, image.manifest, image.media_type, expect=201)
        pushed.append(Pushed(repo, image.digest, [b.digest for b in image.blobs]))
    return pushed


def cleanup(client: RegistryClient, pushed: Iterable[Pushed], seconds: float = CLEANUP_SECONDS) -> tuple[int, int]:
    """Delete manifests (by digest) then their blobs; (requests that succeeded or were moot, failures)."""
    deadline = time.monotonic() + seconds
    done = failed = 0
    items = list(pushed)
    steps = [(item.repo, "manifest", item.manifest) for item in items]
    steps += [(item.repo, "blob", digest) for item in items for digest in item.blobs]
    seen = set()
    for repo, kind, digest in steps:
        if (repo, kind, digest) in seen:
            continue
        seen.add((repo, kind, digest))
        if time.monotonic() > deadline:
            log.warning("cleanup stopped after %.0fs: %d deletions left", seconds, len(steps) - done - failed)
            break
        try:
            if kind == "manifest":
                response = client.delete_manifest(repo, digest)
            else:
                response = client.delete_blob(repo, digest)
        except RegistryError:
            failed += 1
            continue
        if response.status_code in DELETE_OK or response.status_code == 400 and b"UNSUPPORTED" in response.content:
            done += 1
        else:
            failed += 1
    if failed:
        log.warning("cleanup: %d deletions failed", failed)
    return done, failed
