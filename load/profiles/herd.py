"""Herd profile: the CI-farm case — every user pulls the same freshly pushed image at the same moment.

A publisher on the master (or local runner) pushes a new image and moves the ``latest`` tag a
little before each wave; waves start on wall-clock multiples of ``--herd-interval`` seconds, so
users on every worker pull together. Users verify whatever ``latest`` names against its digest.
"""

import logging
import random
import time

import gevent
from locust import task

from load.common import RECORDER, STATE, RegistryUser
from load.images import IMAGE_SIZES, pick_size
from load.measure import Measure, MeasuredSession
from load.workloads import pull_tag, push_image

log = logging.getLogger("registry-harness.load")
TAG = "latest"


def herd_repo(settings) -> str:
    return f"{settings.repo_prefix}/{settings.run_id}/herd"


def until_next_wave(interval: float) -> float:
    """Seconds until the next wall-clock multiple of ``interval``."""
    return interval - (time.time() % interval)


def publish(client, settings, wave: int, emit) -> bool:
    """Push wave ``wave``'s image and point ``latest`` at it; True when it worked."""
    session = MeasuredSession(lambda *a, **k: None)
    publisher = type(client)(client.target, session, timeout=settings.request_timeout)
    label = pick_size(settings.image_size, random.Random(wave))
    digest = push_image(publisher, Measure(session, emit), herd_repo(settings), TAG, IMAGE_SIZES[label],
                        f"{settings.run_id}/herd/{wave}", "monolithic", label, record=STATE.record)
    return digest is not None


def _publisher(client, settings, emit) -> None:
    interval = settings.herd_interval
    lead = min(2.0, interval * 0.4)
    for wave in range(1, 1_000_000):
        gevent.sleep(max(until_next_wave(interval) - lead, 0.05))
        if not publish(client, settings, wave, emit):
            log.warning("herd wave %d: publishing a fresh image failed; users pull the previous one", wave)
        gevent.sleep(lead + 0.05)


class HerdUser(RegistryUser):
    """A CI job: waits for the next wave, then pulls ``latest`` with everybody else."""

    profile = "herd"

    def wait_time(self) -> float:
        return until_next_wave(self.settings.herd_interval)

    @classmethod
    def seed(cls, client, settings):
        if not publish(client, settings, 0, _record_publish):
            raise RuntimeError(f"could not push the first herd image to {herd_repo(settings)}")
        return []

    @classmethod
    def started(cls, environment, client, settings) -> None:
        STATE.greenlets.append(gevent.spawn(_publisher, client, settings, _record_publish))

    def on_start(self) -> None:
        gevent.sleep(until_next_wave(self.settings.herd_interval))

    @task
    def pull_latest(self) -> None:
        pull_tag(self.client, self.measure, herd_repo(self.settings), TAG, "herd")


def _record_publish(request_type, name, response_time, received=0, sent=0, error=None) -> None:
    """Publisher timings go to the summary (as PUBLISH entries), not into the users' request stats."""
    if request_type == "PUSH":
        RECORDER.record("PUBLISH", "publish herd image", response_time, received=received, error=error)
