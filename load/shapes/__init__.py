"""Load shapes (LoadTestShape classes), one per file, combined with a profile: ``-f profile.py,shape.py``.

``BoundedShape`` holds what every shape shares: it reads ``--users``, ``--spawn-rate`` and the
required ``--run-time`` and stops the run when that time is up. It is abstract, so Locust never
counts it as a second shape in the file that imports it.
"""

from __future__ import annotations

from locust import LoadTestShape


class BoundedShape(LoadTestShape):
    """A shape that ends at ``--run-time`` (and refuses to run without one); ``users_at`` gives its curve."""

    abstract = True
    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        options = self.runner.environment.parsed_options
        run_time = float(options.run_time or 0)
        now = self.get_run_time()
        if not run_time or now >= run_time:
            return None
        users = max(int(options.num_users or 1), 1)
        return self.users_at(now, run_time, users, float(options.spawn_rate or users), options)

    def users_at(self, now: float, run_time: float, users: int, spawn_rate: float,
                 options: object) -> tuple[int, float]:
        """(user count, spawn rate) ``now`` seconds into a run of ``run_time`` towards ``users``."""
        raise NotImplementedError
