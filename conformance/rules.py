"""How a check states the spec rule it enforces, and how it reports the non-failing outcomes.

Each check is decorated with ``@rule(id, level, area, text)``; inside it:
- a broken MUST is a plain ``assert`` (or an UnexpectedResponse from the client) → **fail**;
- ``unsupported(reason)`` when the registry gave a valid "not supported" answer → **skip**;
- ``should(condition, message)`` for a SHOULD: not met → **warning** (a failure under --strict);
- the plugin turns checks switched off by configuration into **disabled**, and any other
  exception (a defect of the harness itself) into **error**.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import pytest

LEVELS = ("MUST", "SHOULD", "MAY")
AREAS = ("base", "push", "pull", "seed", "discovery", "manifests", "management", "referrers", "errors", "auth",
         "clients")
UNSUPPORTED_PREFIX = "unsupported: "
DISABLED_PREFIX = "disabled: "
NO_AUTH = "registry does not require authentication"  # why the auth area skips (the terminal adds a hint)

F = TypeVar("F", bound=Callable[..., object])


@dataclass(frozen=True)
class Rule:
    """The spec rule a check enforces: endpoint id (e.g. ``end-4b``), level, area and wording."""

    id: str
    level: str
    area: str
    text: str


def rule(rule_id: str, level: str, area: str, text: str) -> Callable[[F], F]:
    """Mark a check with the rule it enforces and its area marker (``-m push`` selects it)."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}")
    if area not in AREAS:
        raise ValueError(f"area must be one of {AREAS}")

    def decorate(func: F) -> F:
        func = pytest.mark.rule(Rule(rule_id, level, area, text))(func)
        return getattr(pytest.mark, area)(func)

    return decorate


def unsupported(reason: str) -> None:
    """End the check as **skip**: the registry validly answered that it does not support this."""
    pytest.skip(UNSUPPORTED_PREFIX + reason)


@dataclass
class Warnings:
    """SHOULD-level findings of the running check."""

    messages: list[str] = field(default_factory=list)
    strict: bool = False


_current: contextvars.ContextVar[Warnings | None] = contextvars.ContextVar("conformance_warnings", default=None)


def begin_check(strict: bool) -> Warnings:
    """Called by the plugin before each check; returns the collector it will read afterwards."""
    collector = Warnings(strict=strict)
    _current.set(collector)
    return collector


def should(condition: object, message: str) -> bool:
    """Record a SHOULD that is not met as a warning (or fail under --strict); returns ``condition``."""
    if condition:
        return True
    collector = _current.get()
    if collector is None or collector.strict:
        raise AssertionError(f"SHOULD not met: {message}")
    collector.messages.append(message)
    return False


def write_refused(response: object) -> str | None:
    """Why an answer to a write (push, tag) is a valid refusal of writes as such, or None.

    405 (any body), or 400 with the UNSUPPORTED code, mean the registry does not accept writes
    here (a read-only registry or mirror); the check that needed the write cannot run.
    """
    status = getattr(response, "status_code", None)
    if status == 405:
        return "the registry refuses writes (405)"
    if status == 400 and b"UNSUPPORTED" in (getattr(response, "content", b"") or b""):
        return "the registry refuses writes (400 UNSUPPORTED)"
    return None
