"""Mixed profile: 75% whole-image pulls and 25% pushes of new images, as a busy registry sees."""

from locust import task

from load.common import SeededPullUser
from load.profiles.push import push_one


class MixedUser(SeededPullUser):
    """Pulls three times for every push."""

    profile = "mixed"

    @task(3)
    def pull(self) -> None:
        self.pull_one()

    @task(1)
    def push(self) -> None:
        push_one(self)
