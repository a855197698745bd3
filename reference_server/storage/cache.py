"""A bounded least-recently-used map, used by ``FilesystemStorage`` to keep tag -> digest and
manifest records in memory so a manifest GET by tag reads no file when it is warm.

Bounded by entry count and by the summed ``weight`` of the values (a manifest's byte size), so the
memory it holds stays fixed however many repositories the store serves. Only the event loop
touches it (no locking).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """At most ``max_entries`` values weighing at most ``max_weight`` in total; least recently used go first."""

    def __init__(self, max_entries: int, max_weight: int | None = None,
                 weigh: Callable[[V], int] | None = None) -> None:
        self.max_entries = max_entries
        self.max_weight = max_weight
        self._weigh = weigh or (lambda value: 0)
        self._data: OrderedDict[K, V] = OrderedDict()
        self._weight = 0

    def __len__(self) -> int:
        return len(self._data)

    @property
    def weight(self) -> int:
        """The summed weight of the values held now."""
        return self._weight

    def get(self, key: K) -> V | None:
        """The value under ``key`` (now the most recently used), or None."""
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        """Hold ``value`` under ``key``; a value heavier than the whole budget is not kept at all."""
        self.pop(key)
        weight = self._weigh(value)
        if self.max_weight is not None and weight > self.max_weight:
            return
        self._data[key] = value
        self._weight += weight
        while len(self._data) > self.max_entries or (self.max_weight is not None and self._weight > self.max_weight):
            _, evicted = self._data.popitem(last=False)
            self._weight -= self._weigh(evicted)

    def pop(self, key: K) -> V | None:
        """Forget ``key``; return what it held."""
        value = self._data.pop(key, None)
        if value is not None:
            self._weight -= self._weigh(value)
        return value

    def drop_where(self, keep: Callable[[K, V], bool]) -> int:
        """Forget every entry for which ``keep(key, value)`` is false; return how many went."""
        doomed = [key for key, value in self._data.items() if not keep(key, value)]
        for key in doomed:
            self.pop(key)
        return len(doomed)

    def clear(self) -> None:
        """Forget everything."""
        self._data.clear()
        self._weight = 0
