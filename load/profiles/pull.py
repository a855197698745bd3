"""Pull profile: whole-image pulls (manifest HEAD, manifest GET, config, layers), every byte verified.

``--image-size 1MiB|10MiB|100MiB|mixed`` (mixed draws 20% / 70% / 10%); the images are seeded
once at test start and deleted at the end.
"""

from locust import task

from load.common import RegistryUser, pull_labels, seeding, warm_pull_images
from load.images import pick_size, seeded_image
from load.workloads import pull_image


class PullUser(RegistryUser):
    """A client pulling whole images as fast as the registry serves them."""

    profile = "pull"

    @classmethod
    def seed(cls, client, settings):
        return seeding.seed_pull_images(client, settings.run_id, settings.repo_prefix, pull_labels(settings))

    @classmethod
    def prepare(cls, settings):
        warm_pull_images(settings)

    @task
    def pull(self) -> None:
        label = pick_size(self.settings.image_size, self.rng)
        pull_image(self.client, self.measure, seeded_image(self.settings.run_id, label, self.settings.repo_prefix))
