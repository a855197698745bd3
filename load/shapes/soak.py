"""Soak shape: a steady ``--users`` load held for the whole (bounded) ``--run-time``, after a ramp.

``--soak-ramp`` seconds of ramp-up (default 10% of the run). Long soaks stay bounded: the run
time is required, and the CLI caps it (24 h).
"""

from locust import events

from load.shapes import BoundedShape


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    parser.add_argument("--soak-ramp", type=float, default=0.0, help="soak shape: ramp-up seconds")


class SoakShape(BoundedShape):
    """Ramp to ``--users`` then hold; stops at ``--run-time`` (refuses to run without one)."""

    def users_at(self, now, run_time, users, spawn_rate, options):
        ramp = float(getattr(options, "soak_ramp", 0.0) or 0.0) or run_time / 10
        if now < ramp:
            return max(round(users * now / ramp), 1), spawn_rate
        return users, spawn_rate
