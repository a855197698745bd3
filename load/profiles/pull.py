"""Pull profile: whole-image pulls (manifest HEAD, manifest GET, config, layers), every byte verified.

``--image-size 1MiB|10MiB|100MiB|mixed`` (mixed draws 20% / 70% / 10%); the images are seeded
once at test start and deleted at the end.
"""

from locust import task

from load.common import SeededPullUser


class PullUser(SeededPullUser):
    """A client pulling whole images as fast as the registry serves them."""

    profile = "pull"

    @task
    def pull(self) -> None:
        self.pull_one()
