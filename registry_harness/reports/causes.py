"""Root causes first: failures grouped by what caused them, and the one line a run leads with.

A cause is the failing request's shape (method and endpoint template), its status and its body
with run-specific parts (names, digests, ids, ports) blanked, or, for a request that got no usable
answer, the transport error alone ("the registry stopped answering" is one cause whatever was
asked). Grouping never changes a verdict: every check keeps its own status; the groups only
order what a reader sees first.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from registry_harness.exchange import endpoint_name
from registry_harness.reports.model import FAILING, CheckResult, RunResult

_URL_RE = re.compile(r"https?://[^\s'\"<>),]+")
_DIGEST_RE = re.compile(r"\b(sha256|sha512):[0-9a-f]{8,}…?")
_RUN_NAME_RE = re.compile(r"\bconformance-[0-9a-f]+(/[A-Za-z0-9._/-]*)?")
_HEX_RE = re.compile(r"\b[0-9a-f]{12,}\b")
_NUMBER_RE = re.compile(r"\b\d{3,}\b")
_SPACE_RE = re.compile(r"\s+")
BODY_CHARS = 120


def normalise(text: str) -> str:
    """``text`` with URLs reduced to their endpoint template and run-specific values blanked."""
    text = _URL_RE.sub(lambda m: endpoint_name("", m.group(0)).strip(), text)
    text = _DIGEST_RE.sub(r"\1:[digest]", text)
    text = _RUN_NAME_RE.sub("[name]", text)
    text = _HEX_RE.sub("[id]", text)
    return _SPACE_RE.sub(" ", text).strip()


def cause_of(exchange: dict | None, message: str, rule: str = "") -> str:
    """The cause of one failure: from the exchange that failed (a masked Exchange dict) and the message.

    No usable answer: the transport error alone. An HTML page: its status and body (whatever was
    asked, a login page or a web server's 404 is one cause). An error status: request shape, status
    and body. A success status: request shape, status and what the check found wrong with it.
    """
    first = normalise((message.strip().splitlines() or [""])[0])
    error = str(exchange.get("error") or "") if exchange else ""
    if not error:
        found = _TRANSPORT_RE.search(message)
        error = found.group(0) if found else ""
    if error:
        error = normalise(error)
        if "not sent:" in error:
            return "not sent: " + error.split("not sent:", 1)[1].strip()
        error = error.split("no usable answer from the registry", 1)[-1].strip(" ()")
        return f"no usable answer: {error}"
    if exchange is None:
        return first or "failed without a message"
    shape = endpoint_name(str(exchange.get("method") or ""), str(exchange.get("url") or ""))
    status = exchange.get("status")
    raw_body = str(exchange.get("response_body") or "")
    body = normalise(raw_body)[:BODY_CHARS]
    if raw_body.lstrip()[:15].lower().startswith(("<!doctype html", "<html")):
        return f"answered {status} with an HTML page: {_html_text(raw_body)}"
    if isinstance(status, int) and status < 400:
        # the request "worked"; what failed is a rule about its answer, so that is the cause
        return f"{shape} answered {status} — {first}" if first else f"{shape} answered {status}"
    return f"{shape} answered {status}" + (f": {body}" if body else "")


def _html_text(page: str) -> str:
    """What a reader of an HTML page sees first: its title and text, without markup."""
    title = _TITLE_RE.search(page)
    text = html.unescape(_TAG_RE.sub(" ", _HEAD_RE.sub(" ", page)))
    words = normalise(f"{title.group(1) if title else ''} — {text}" if title else text)
    return words[:BODY_CHARS]


_TITLE_RE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_HEAD_RE = re.compile(r"<head.*?</head>|<script.*?</script>|<style.*?</style>", re.IGNORECASE | re.DOTALL)
_TAG_RE = re.compile(r"<[^>]+>")
_TRANSPORT_RE = re.compile(r"not sent: .*|no usable answer from the registry \(.*\)")


@dataclass
class Cause:
    """One cause and the failing checks it explains (biggest first in ``causes``)."""

    text: str
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def example(self) -> CheckResult:
        return self.checks[0]

    def to_dict(self) -> dict[str, object]:
        return {"cause": self.text, "count": len(self.checks), "checks": [c.id for c in self.checks],
                "example": self.example.id, "curl": self.example.curl}


def causes(run: RunResult) -> list[Cause]:
    """The failing checks grouped by cause, the biggest group first (ties: first seen first)."""
    groups: dict[str, Cause] = {}
    for check in run.checks:
        if check.status in FAILING and check.expectation != "expected":  # known deviations are no news
            key = check.cause or normalise((check.message.splitlines() or [""])[0]) or check.status
            groups.setdefault(key, Cause(key)).checks.append(check)
    return sorted(groups.values(), key=lambda c: -len(c.checks))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def failures_line(run: RunResult) -> str:
    """``116 failures, 3 causes; the biggest (80 checks): …`` or "" when nothing failed."""
    found = causes(run)
    if not found:
        return ""
    total = sum(len(c.checks) for c in found)
    biggest = found[0]
    if len(found) == 1:
        return f"{_plural(total, 'failure')}, 1 cause: {biggest.text}"
    return (f"{_plural(total, 'failure')}, {len(found)} causes; the biggest "
            f"({_plural(len(biggest.checks), 'check')}): {biggest.text}")


def headline(run: RunResult) -> str:
    """The first line of every summary: what is wrong at the root, or "" for a clean run.

    An unreachable target or a ``/v2/`` that is not a registry's comes first (set by the runner in
    ``run.extra["root_cause"]``), then the biggest cause of failures, then checks that did not run.
    """
    root = str(run.extra.get("root_cause") or "")
    if root:
        return root
    line = failures_line(run)
    if line:
        return line
    not_run = [c for c in run.checks if c.status == "not-run"]
    if not_run:
        return f"{_plural(len(not_run), 'check')} did not run: {not_run[0].reason}"
    return ""
