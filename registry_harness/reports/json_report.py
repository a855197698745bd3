"""results.json: the machine-readable run (target redacted, counts, every check), masked."""

from __future__ import annotations

import json
from pathlib import Path

from registry_harness.redact import mask_text
from registry_harness.reports.causes import causes, headline
from registry_harness.reports.model import RunResult


def render_json(run: RunResult, secrets: tuple[str | None, ...] = ()) -> str:
    """The run as indented JSON text (the headline first, the causes of failure), every secret masked."""
    document = {"headline": headline(run), **run.to_dict(), "causes": [c.to_dict() for c in causes(run)]}
    return mask_text(json.dumps(document, indent=2, ensure_ascii=False, default=str), secrets)


def write_json(run: RunResult, path: Path, secrets: tuple[str | None, ...] = ()) -> Path:
    path.write_text(render_json(run, secrets) + "\n", encoding="utf-8")
    return path
