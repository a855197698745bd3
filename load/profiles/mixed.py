"""Mixed profile: 75% whole-image pulls and 25% pushes of new images, as a busy registry sees."""

from locust import task

from load.common import RegistryUser, pull_labels, seeding, warm_pull_images
from load.images import pick_size, seeded_image
from load.profiles.push import push_one
from load.workloads import pull_image


class MixedUser(RegistryUser):
    """Pulls three times for every push."""

    profile = "mixed"

    @classmethod
    def seed(cls, client, settings):
        return seeding.seed_pull_images(client, settings.run_id, settings.repo_prefix, pull_labels(settings))

    @classmethod
    def prepare(cls, settings):
        warm_pull_images(settings)

    @task(3)
    def pull(self) -> None:
        label = pick_size(self.settings.image_size, self.rng)
        pull_image(self.client, self.measure, seeded_image(self.settings.run_id, label, self.settings.repo_prefix))

    @task(1)
    def push(self) -> None:
        push_one(self)
