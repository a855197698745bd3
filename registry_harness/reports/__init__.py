"""Report writers shared by the harness's tools: JSON, JUnit XML, a self-contained HTML page, text.

Each writer takes a :class:`~registry_harness.reports.model.RunResult`; ``write_all`` writes the
three files into a results folder and returns their paths.
"""

from __future__ import annotations

from pathlib import Path

from registry_harness.reports.html import write_html
from registry_harness.reports.json_report import write_json
from registry_harness.reports.junit import write_junit
from registry_harness.reports.model import FAILING, STATUSES, CheckResult, RunResult, client_verdicts
from registry_harness.reports.text import clients_line, summary_table

__all__ = ["FAILING", "STATUSES", "CheckResult", "RunResult", "client_verdicts", "clients_line", "summary_table",
           "write_all", "write_html", "write_json", "write_junit"]


def write_all(run: RunResult, folder: Path, secrets: tuple[str | None, ...] = ()) -> dict[str, Path]:
    """Write ``results.json``, ``junit.xml`` and ``report.html`` into ``folder``; return the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "json": write_json(run, folder / "results.json", secrets),
        "junit": write_junit(run, folder / "junit.xml", secrets),
        "html": write_html(run, folder / "report.html", secrets),
    }
