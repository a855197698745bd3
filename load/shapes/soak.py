"""Soak shape: a steady ``--users`` load held for the whole (bounded) ``--run-time``, after a ramp.

``--soak-ramp`` seconds of ramp-up (default 10% of the run). Long soaks stay bounded: the run
time is required, and the CLI caps it (24 h).
"""

from locust import LoadTestShape, events


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    parser.add_argument("--soak-ramp", type=float, default=0.0, help="soak shape: ramp-up seconds")


class SoakShape(LoadTestShape):
    """Ramp to ``--users`` then hold; stops at ``--run-time`` (refuses to run without one)."""

    use_common_options = True

    def tick(self):
        options = self.runner.environment.parsed_options
        run_time = float(options.run_time or 0)
        now = self.get_run_time()
        if not run_time or now >= run_time:
            return None
        users = max(int(options.num_users or 1), 1)
        ramp = float(getattr(options, "soak_ramp", 0.0) or 0.0) or run_time / 10
        if now < ramp:
            return max(round(users * now / ramp), 1), float(options.spawn_rate or users)
        return users, float(options.spawn_rate or users)
