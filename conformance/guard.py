"""Every run ends, and ends with its reports: time budgets per check and per run, SIGTERM handled
like Ctrl-C, and the checks that did not run marked as such.

A check over its budget is interrupted by an alarm (the main thread of each pytest process runs
the checks, also under xdist) and fails naming the budget; once the run budget is spent, the
remaining checks are not started and are reported as ``not-run``. ``BudgetExceeded`` derives from
BaseException so that no ``except Exception`` inside a check or the client swallows it.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

DEFAULT_CHECK_TIMEOUT = 60.0  # seconds one check (setup and call) may take
DEFAULT_RUN_TIMEOUT = 900.0  # seconds the whole run may take before the remaining checks are not started
NOT_RUN_PREFIX = "not run: "
NOT_RUN = "not-run"


class BudgetExceeded(BaseException):  # noqa: N818 - reads as the event it is
    """A check ran past its time budget (or past what was left of the run's)."""


class Budget:
    """The time budgets of one pytest process: ``arm`` before a check, ``disarm`` after it."""

    def __init__(self, check_seconds: float, run_seconds: float, started: float | None = None) -> None:
        self.check_seconds = check_seconds
        self.run_seconds = run_seconds
        self.started = time.time() if started is None else started  # wall clock: shared with xdist workers
        self.armed = False
        self._previous: Callable | int | None = None

    def remaining(self) -> float:
        """Seconds left of the run budget (negative once spent)."""
        return self.started + self.run_seconds - time.time()

    @property
    def exhausted(self) -> bool:
        return self.run_seconds > 0 and self.remaining() <= 0

    def not_run_reason(self) -> str:
        return f"the run budget of {self.run_seconds:g} s (--run-timeout) was spent before this check started"

    def arm(self) -> None:
        """Start the alarm for one check: its own budget, or what is left of the run's if less."""
        seconds = self.check_seconds if self.check_seconds > 0 else 0.0
        if self.run_seconds > 0:
            left = max(self.remaining(), 0.01)
            seconds = min(seconds, left) if seconds else left
        if not seconds:
            return
        try:
            self._previous = signal.signal(signal.SIGALRM, self._expired)
            signal.setitimer(signal.ITIMER_REAL, seconds)
        except (ValueError, AttributeError, OSError):  # not the main thread, or no SIGALRM here
            return
        self.armed = True
        self._deadline_is_run = self.run_seconds > 0 and seconds < self.check_seconds

    def disarm(self) -> None:
        if not self.armed:
            return
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self._previous or signal.SIG_DFL)
        self.armed = False

    def _expired(self, signum: int, frame: object) -> None:
        self.disarm()
        if getattr(self, "_deadline_is_run", False):
            raise BudgetExceeded(f"the run budget of {self.run_seconds:g} s (--run-timeout) ran out during this "
                                 "check; it was stopped")
        raise BudgetExceeded(f"the check took longer than its budget of {self.check_seconds:g} s (--check-timeout) "
                             "and was stopped")


class Interrupted(KeyboardInterrupt):
    """SIGTERM, turned into what pytest does on Ctrl-C: stop, tear down, write the reports."""


def handle_sigterm() -> Callable[[], None]:
    """Make SIGTERM stop the run as Ctrl-C does (reports still written); returns the undo function."""
    def on_term(signum: int, frame: object) -> None:
        raise Interrupted("SIGTERM")

    try:
        previous = signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread
        return lambda: None
    return lambda: signal.signal(signal.SIGTERM, previous)
