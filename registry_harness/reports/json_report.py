"""results.json: the machine-readable run (target redacted, counts, every check), masked."""

from __future__ import annotations

import json
from pathlib import Path

from registry_harness.redact import mask_text
from registry_harness.reports.model import RunResult


def render_json(run: RunResult, secrets: tuple[str | None, ...] = ()) -> str:
    """The run as indented JSON text, with every given secret masked one last time."""
    return mask_text(json.dumps(run.to_dict(), indent=2, ensure_ascii=False, default=str), secrets)


def write_json(run: RunResult, path: Path, secrets: tuple[str | None, ...] = ()) -> Path:
    path.write_text(render_json(run, secrets) + "\n", encoding="utf-8")
    return path
