"""junit.xml with all five verdicts: failures, errors, skips (unsupported) and disabled checks.

Test names are the stable check ids, so CI systems track each check across runs.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from registry_harness.redact import mask_text
from registry_harness.reports.causes import headline
from registry_harness.reports.exchanges import describe
from registry_harness.reports.model import CheckResult, RunResult, verdict_of

_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _clean(text: str, secrets: tuple[str | None, ...]) -> str:
    return _INVALID_XML.sub("?", mask_text(text, secrets))


def _classname(check: CheckResult) -> str:
    path = check.id.split("::", 1)[0].removesuffix(".py")
    return path.replace("/", ".") or "checks"


def _details(check: CheckResult) -> str:
    parts = [check.message]
    if check.rule:
        parts.append(f"rule {check.rule} ({check.level}, {check.area}): {check.text}")
    if check.curl:
        parts.append(f"reproduce with: {check.curl}")
    for exchange in check.exchanges:
        parts.append(describe(exchange))
    return "\n\n".join(p for p in parts if p)


def render_junit(run: RunResult, secrets: tuple[str | None, ...] = ()) -> bytes:
    counts = run.counts()
    suites = ET.Element("testsuites")
    suite = ET.SubElement(suites, "testsuite", {
        "name": run.tool,
        "tests": str(counts["total"]),
        "failures": str(sum(1 for c in run.checks if (c.status == "fail" and c.expectation != "expected")
                                or c.expectation == "stale")),
        "errors": str(sum(1 for c in run.checks if c.status == "error" and c.expectation != "expected")),
        "skipped": str(counts["skip"] + counts["disabled"] + counts["not-run"]
                       + sum(1 for c in run.checks if c.expectation == "expected" and c.status == "fail")),
        "time": f"{run.duration_s:.3f}",
        "timestamp": run.started,
    })
    props = ET.SubElement(suite, "properties")
    line = headline(run)
    if line:  # the root cause first, as in every report
        ET.SubElement(props, "property", {"name": "headline", "value": _clean(line, secrets)})
    for key, value in run.target.items():
        ET.SubElement(props, "property", {"name": f"target.{key}", "value": _clean(str(value), secrets)})
    for check in run.checks:
        case = ET.SubElement(suite, "testcase", {
            "classname": _classname(check),
            "name": check.id.split("::", 1)[-1],
            "time": f"{check.duration_s:.3f}",
        })
        case_props = ET.SubElement(case, "properties")
        for key in ("rule", "level", "area", "doc"):
            ET.SubElement(case_props, "property", {"name": key, "value": getattr(check, key)})
        first_line = (check.message.splitlines() or [""])[0][:500]
        expected = check.expected or {}
        if check.expectation == "expected" and check.status == "fail":
            # a known deviation met: CI tools must not count it as a failure, and must still show it
            ET.SubElement(case, "skipped", {"type": "expected-" + verdict_of(check), "message": _clean(
                f"known deviation, expected {expected.get('status')}: {expected.get('reason', '')} "
                f"{expected.get('link', '')}".strip(), secrets)}).text = _clean(_details(check), secrets)
        elif check.expectation == "stale":
            ET.SubElement(case, "failure", {"type": "known-deviation-no-longer-holds", "message": _clean(
                f"recorded as {expected.get('status')} ({expected.get('reason', '')}), now {verdict_of(check)}: "
                "update the expectations file", secrets)}).text = _clean(_details(check), secrets)
        elif check.status == "fail":
            ET.SubElement(case, "failure", {"message": _clean(first_line, secrets), "type": check.rule or "fail"}
                          ).text = _clean(_details(check), secrets)
        elif check.status == "error":
            ET.SubElement(case, "error", {"message": _clean(first_line, secrets), "type": "harness-error"}
                          ).text = _clean(_details(check), secrets)
        elif check.status in ("skip", "disabled", "not-run"):
            ET.SubElement(case, "skipped", {"message": _clean(f"{check.status}: {check.reason}", secrets),
                                            "type": check.status})
        if check.warnings:
            ET.SubElement(case, "system-out").text = _clean(
                "\n".join(f"SHOULD warning: {w}" for w in check.warnings), secrets)
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True)


def write_junit(run: RunResult, path: Path, secrets: tuple[str | None, ...] = ()) -> Path:
    path.write_bytes(render_junit(run, secrets))
    return path
