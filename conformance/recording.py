"""Which HTTP exchanges belong to which check: the client's recorder writes into the running check.

The plugin calls ``begin`` when a check starts; every Exchange the session client records from
then on belongs to that check, so a failure report can show exactly the traffic that led to it.
Exchanges outside any check (session cleanup) go to a separate bucket.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from registry_harness.exchange import Exchange

MAX_EXCHANGES_PER_CHECK = 200


@dataclass
class CheckRecorder:
    """Collects the exchanges of the check running in this process."""

    current: str | None = None
    exchanges: list[Exchange] = field(default_factory=list)
    dropped: int = 0
    outside: list[Exchange] = field(default_factory=list)

    def begin(self, nodeid: str) -> None:
        self.current = nodeid
        self.exchanges = []
        self.dropped = 0

    def end(self) -> None:
        self.current = None

    def record(self, exchange: Exchange) -> None:
        """The RegistryClient recorder callback."""
        if self.current is None:
            if len(self.outside) < MAX_EXCHANGES_PER_CHECK:
                self.outside.append(exchange)
            return
        if len(self.exchanges) >= MAX_EXCHANGES_PER_CHECK:
            # keep the first ones (setup) and the most recent (the failure) of a long check
            self.exchanges.pop(MAX_EXCHANGES_PER_CHECK // 2)
            self.dropped += 1
        self.exchanges.append(exchange)


RECORDER_KEY = pytest.StashKey[CheckRecorder]()


def recorder_of(config: pytest.Config) -> CheckRecorder:
    """The process's recorder, created on first use."""
    if RECORDER_KEY not in config.stash:
        config.stash[RECORDER_KEY] = CheckRecorder()
    return config.stash[RECORDER_KEY]
