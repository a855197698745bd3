"""Spike shape: a baseline load, a sudden jump to ``--users`` in the middle, then back to baseline.

``--spike-baseline`` users (default a fifth of --users) and ``--spike-seconds`` (default a fifth of
the run time) centred in ``--run-time``; the spike is spawned at once. Shows recovery after a burst.
"""

from locust import events

from load.shapes import BoundedShape


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    parser.add_argument("--spike-baseline", type=int, default=0, help="spike shape: users before and after")
    parser.add_argument("--spike-seconds", type=float, default=0.0, help="spike shape: length of the spike")


class SpikeShape(BoundedShape):
    """Baseline, spike to ``--users`` for a while, baseline again; stops at ``--run-time``."""

    def users_at(self, now, run_time, users, spawn_rate, options):
        baseline = int(getattr(options, "spike_baseline", 0) or 0) or max(users // 5, 1)
        length = float(getattr(options, "spike_seconds", 0.0) or 0.0) or run_time / 5
        start = (run_time - length) / 2
        if start <= now < start + length:
            return users, float(users)
        return min(baseline, users), spawn_rate
