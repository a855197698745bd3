"""Timing of registry traffic for the load profiles: every HTTP request and every whole operation.

``MeasuredSession`` is the lean transport of ``load.transport`` (driven by the shared RegistryClient
like a ``requests.Session``) that times each request itself: time to first byte, and the whole
body download included, at sub-millisecond resolution. A request is reported once the workload
has judged it: the next request (or the end of the operation) settles it as a success; a failed
check settles it as a failure, so a wrong status, a missing header or a digest mismatch counts
against the request that caused it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import requests

from load.transport import FastSession
from registry_harness.exchange import endpoint_name

# emit(request_type, name, response_time_ms, received=0, sent=0, error=None)
Emit = Callable[..., None]

NAME_CACHE = 4096


class CheckFailed(AssertionError):
    """A response the workload cannot accept: wrong content, missing header, digest mismatch."""


class Unsupported(Exception):
    """The registry validly declined an optional feature (catalog off, …): not a failure, not a success."""


def body_length(data: object) -> int:
    """Bytes a request body will send (0 when unknown or absent)."""
    if data is None or isinstance(data, dict | list | tuple):
        return 0
    try:
        return len(data)  # type: ignore[arg-type]
    except TypeError:
        return 0


def one_line(exc: BaseException) -> str:
    """First line of an exception's message (what the stats table shows)."""
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


class Sample:
    """One HTTP request being measured (times from ``time.perf_counter``)."""

    __slots__ = ("method", "name", "sent", "started", "ttfb_ms", "elapsed_ms", "received", "status", "response")

    def __init__(self, method: str, name: str, sent: int = 0) -> None:
        self.method = method
        self.name = name
        self.sent = sent
        self.started = time.perf_counter()
        self.ttfb_ms: float | None = None
        self.elapsed_ms: float | None = None
        self.received = 0
        self.status: int | None = None
        self.response = None

    def headers_arrived(self) -> None:
        self.ttfb_ms = (time.perf_counter() - self.started) * 1000.0

    def finish(self, received: int | None = None) -> None:
        if self.elapsed_ms is None:
            self.elapsed_ms = (time.perf_counter() - self.started) * 1000.0
        if received is not None:
            self.received = received


class MeasuredSession(FastSession):
    """A session that times each request (TTFB and full body) and reports it through ``emit``.

    The transport is the lean keep-alive one of ``load.transport`` (the RegistryClient drives it
    like a ``requests.Session``); endpoint names are cached per URL, since a load run repeats them.
    """

    def __init__(self, emit: Emit, pool_size: int = 4) -> None:
        super().__init__(pool_size)
        self.emit = emit
        self.pending: Sample | None = None
        self.last: Sample | None = None
        self._names: dict[tuple[str, str], str] = {}

    def _name(self, method: str, url: str) -> str:
        key = (method, url)
        name = self._names.get(key)
        if name is None:
            if len(self._names) >= NAME_CACHE:
                self._names.clear()
            name = self._names[key] = endpoint_name(method, url)
        return name

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        """Send like requests does, but always time headers and body; keep the sample pending."""
        if self.pending is not None:
            self.settle()
        stream = kwargs.pop("stream", False)
        method = method.upper()
        data = kwargs.get("data")
        sample = Sample(method, self._name(method, url), body_length(data) if data is not None else 0)
        try:
            response = super().request(method, url, *args, stream=True, **kwargs)
        except requests.RequestException as exc:
            sample.finish()
            self._report(sample, one_line(exc))
            raise
        sample.headers_arrived()
        sample.status = response.status_code
        sample.response = response
        self.last = sample
        if not stream:
            try:
                content = response.content
            except requests.RequestException as exc:
                sample.finish()
                self._report(sample, one_line(exc))
                raise
            sample.finish(len(content))
        self.pending = sample
        return response

    def body_done(self, received: int) -> None:
        """Mark the end of a streamed body the caller has read itself (``received`` bytes)."""
        if self.pending is not None:
            self.pending.finish(received)

    def relabel(self, name: str) -> None:
        """Report the pending request under another name (the token endpoint, for instance)."""
        if self.pending is not None:
            self.pending.name = name

    def settle(self, error: str | None = None) -> None:
        """Report the pending request: as a failure with ``error``, else as judged by its status."""
        sample, self.pending = self.pending, None
        if sample is None:
            return
        if sample.elapsed_ms is None:
            sample.finish()
        if sample.status == 429:
            sample.name += " [429 rate limited]"  # counted apart; the client waits it out and sends again
        if error is None and sample.status is not None and sample.status >= 500:
            error = f"HTTP {sample.status}"
        self._report(sample, error)

    def _report(self, sample: Sample, error: str | None) -> None:
        self.emit(sample.method, sample.name, sample.elapsed_ms or 0.0, received=sample.received,
                  sent=sample.sent, error=error)


@dataclass
class Operation:
    """What a whole operation (an image pull, a push) adds up to; the workload fills it in."""

    name: str
    bytes: int = 0
    started: float = field(default_factory=time.perf_counter)


class Measure:
    """Whole operations around the session's requests: ``with measure.op('PULL', 'pull image 1MiB')``."""

    def __init__(self, session: MeasuredSession, emit: Emit) -> None:
        self.session = session
        self.emit = emit

    @contextlib.contextmanager
    def op(self, request_type: str, name: str) -> Iterator[Operation]:
        """Time an operation; an exception inside fails the request in flight and the operation.

        Exceptions are reported, not raised: a load test carries on after a failed operation.
        """
        operation = Operation(name)
        try:
            yield operation
        except Unsupported:
            self.session.settle()
            raise
        except Exception as exc:  # noqa: BLE001 - every failure of a workload step is a counted failure
            error = one_line(exc)
            self.session.settle(error)
            self.emit(request_type, name, _since(operation.started), received=operation.bytes, error=error)
            return
        self.session.settle()
        self.emit(request_type, name, _since(operation.started), received=operation.bytes)

    def ttfb(self, what: str) -> None:
        """Report the last request's time to first byte as ``TTFB <what>``."""
        sample = self.session.last
        if sample is not None and sample.ttfb_ms is not None:
            self.emit("TTFB", f"TTFB {what}", sample.ttfb_ms)


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
