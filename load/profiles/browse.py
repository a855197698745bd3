"""Browse profile: catalog and tags-list pages (``n=`` page size), following ``Link: rel="next"``.

Seeds ``--browse-repos`` repositories with ``--browse-tags`` tags each; every listing must contain
all seeded names. A registry without a catalog (404/405) is browsed by
tags only, with one warning.
"""

import logging

from locust import task

from load.common import STATE, RegistryUser, seeding
from load.workloads import browse_catalog, browse_tags

log = logging.getLogger("registry-harness.load")


class BrowseUser(RegistryUser):
    """A UI or a tool listing repositories and their tags."""

    profile = "browse"

    @classmethod
    def seed(cls, client, settings):
        return seeding.seed_browse(client, settings.run_id, settings.repo_prefix, settings.browse_repos,
                                   settings.browse_tags)

    def on_start(self) -> None:
        s = self.settings
        self.repos = seeding.browse_repo_names(s.run_id, s.repo_prefix, s.browse_repos)
        self.tags = seeding.browse_tag_names(s.browse_tags)

    @task(1)
    def catalog(self) -> None:
        if not STATE.catalog_supported:
            return self.tags_page()
        if not browse_catalog(self.client, self.measure, self.repos, self.settings.page_size):
            STATE.catalog_supported = False
            log.warning("the registry does not offer /v2/_catalog: browsing tags only")

    @task(3)
    def tags_page(self) -> None:
        browse_tags(self.client, self.measure, self.rng.choice(self.repos), self.tags, self.settings.page_size)
