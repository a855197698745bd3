"""Step shape: add users in equal steps up to ``--users``, holding each step; ends at ``--run-time``.

``--step-count`` steps (default 5); each lasts run-time / steps. Shows where latency starts to
climb as load grows.
"""

from locust import events

from load.shapes import BoundedShape


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    parser.add_argument("--step-count", type=int, default=5, help="step shape: number of steps up to --users")


class StepShape(BoundedShape):
    """Users rise in ``--step-count`` equal steps; the run stops at ``--run-time``."""

    def users_at(self, now, run_time, users, spawn_rate, options):
        steps = max(int(getattr(options, "step_count", 5) or 5), 1)
        step = min(int(now / (run_time / steps)) + 1, steps)
        return max(round(users * step / steps), 1), spawn_rate
