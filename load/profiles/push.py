"""Push profile: single-layer image pushes, monolithic or chunked, into one repository or many.

``--push-mode monolithic|chunked``, ``--push-repo same|distinct``, ``--image-size``; every layer
is new (its digest differs), everything pushed is deleted at the end.
"""

from locust import task

from load.common import STATE, RegistryUser
from load.images import IMAGE_SIZES, pick_size
from load.workloads import push_image


def push_one(user: RegistryUser) -> None:
    """One push of a fresh image by ``user`` (shared with the mixed profile)."""
    settings = user.settings
    label = pick_size(settings.image_size, user.rng)
    user.count += 1
    base = f"{settings.repo_prefix}/{settings.run_id}/push-{label.lower()}"
    repo = base if settings.push_repo == "same" else f"{base}-{user.user_id}-{user.count}"
    unique = f"{settings.run_id}/{user.user_id}/{user.count}"
    push_image(user.client, user.measure, repo, f"u{user.user_id}-{user.count}", IMAGE_SIZES[label], unique,
               settings.push_mode, label, settings.chunk_size, record=STATE.record)


class PushUser(RegistryUser):
    """A release pipeline pushing new images back to back."""

    profile = "push"

    @task
    def push(self) -> None:
        push_one(self)
