"""Where the harness's data lives: the top-level ``fixtures/`` folder (schemas, seed responses).

In a checkout (and an editable install) that is ``fixtures/`` beside this package; a built
package carries the same files as ``registry_harness/fixtures/`` (see pyproject's package-dir).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_PACKAGE = Path(__file__).resolve().parent


def fixtures_dir() -> Path:
    """The folder holding ``schemas/`` and ``seed/``."""
    checkout = _PACKAGE.parent / "fixtures"
    return checkout if (checkout / "schemas").is_dir() else _PACKAGE / "fixtures"


def read_json(*parts: str) -> Any:
    """Parse the JSON file at ``fixtures/<parts…>``."""
    return json.loads(fixtures_dir().joinpath(*parts).read_text(encoding="utf-8"))
