"""``registry-conformance compare A/results.json B/results.json``: what changed between two runs.

Prints regressions (a check that now fails), fixes (one that no longer fails), other changes and
the unchanged count, writes the same as one HTML page, and exits 1 when anything regressed
(0 otherwise, 2 when a file cannot be read) so a CI job can gate on "no regression".
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from conformance.exit_codes import EXIT_CONFIG, EXIT_FAILED, EXIT_OK
from registry_harness.reports.compare import (
    ResultsError,
    compare,
    load_results,
    render_comparison_html,
    render_comparison_text,
)

PROG = "registry-conformance compare"
DEFAULT_HTML = Path("results") / "compare" / "compare.html"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Compare two runs' results.json check by check.",
                                     epilog="Exit codes: 0 no regression, 1 at least one regression, "
                                            "2 a results file cannot be read.")
    parser.add_argument("before", metavar="A/results.json", help="the earlier (or reference) run")
    parser.add_argument("after", metavar="B/results.json", help="the later (or other registry's) run")
    parser.add_argument("--html", default=str(DEFAULT_HTML), metavar="FILE",
                        help=f"where the HTML page goes (default {DEFAULT_HTML})")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    options = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        before, after = load_results(options.before), load_results(options.after)
    except ResultsError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    groups = compare(before, after)
    html = Path(options.html)
    html.parent.mkdir(parents=True, exist_ok=True)
    html.write_text(render_comparison_html(groups, before, after), encoding="utf-8")
    text = render_comparison_text(groups, before, after).splitlines()
    print("\n".join([*text[:-1], f" html: {html}", text[-1]]))
    return EXIT_FAILED if groups["regression"] else EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
