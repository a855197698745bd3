"""Step shape: add users in equal steps up to ``--users``, holding each step; ends at ``--run-time``.

``--step-count`` steps (default 5); each lasts run-time / steps. Shows where latency starts to
climb as load grows.
"""

from locust import LoadTestShape, events


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    parser.add_argument("--step-count", type=int, default=5, help="step shape: number of steps up to --users")


class StepShape(LoadTestShape):
    """Users rise in ``--step-count`` equal steps; the run stops at ``--run-time``."""

    use_common_options = True

    def tick(self):
        options = self.runner.environment.parsed_options
        run_time = float(options.run_time or 0)
        if not run_time or self.get_run_time() >= run_time:
            return None
        steps = max(int(getattr(options, "step_count", 5) or 5), 1)
        users = max(int(options.num_users or 1), 1)
        step = min(int(self.get_run_time() / (run_time / steps)) + 1, steps)
        return max(round(users * step / steps), 1), float(options.spawn_rate or users)
