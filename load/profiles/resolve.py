"""Resolve profile: the small requests of clients that check a tag before (or instead of) pulling it —
manifest HEAD by tag, manifest GET, tags list — every answer checked (digest header, body digest, tag
listed). ``--resolve-requests head,get,tags`` picks which (default all three, in that order).

The requests are small, so this is the profile where a load generator is most likely to be the
limit: ``make bench-load`` measures it side by side with wrk.
"""

from locust import task

from load.common import SeededPullUser
from load.images import seeded_image
from load.workloads import resolve_image


class ResolveUser(SeededPullUser):
    """A kubelet or CI runner asking "what is this tag now?" as fast as the registry answers."""

    profile = "resolve"

    def on_start(self) -> None:
        s = self.settings
        self.images = [seeded_image(s.run_id, label, s.repo_prefix) for label in s.size_labels]

    @task
    def resolve(self) -> None:
        image = self.images[0] if len(self.images) == 1 else self.rng.choice(self.images)
        resolve_image(self.client, self.measure, image, self.settings.resolve_requests, self.settings.page_size)
