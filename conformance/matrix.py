"""``registry-conformance matrix [NAME=]host:port ... | results.json ...``: one compatibility matrix.

Runs the suite against each target in turn (``embedded`` = the embedded reference server; an
existing results.json is read instead of run), then writes ``matrix.md`` and ``matrix.html``:
checks × registries, with each registry's totals, its per-area passes and its clients verdict
where the results hold one. Arguments after ``--`` go to every run (``-- -m push``, ``--strict``).
Exit codes: 0 every registry produced results, 2 some could not be run (named in the matrix).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from conformance.exit_codes import EXIT_CONFIG, EXIT_OK
from registry_harness.reports.compare import (
    Column,
    ResultsError,
    clients_verdict,
    load_results,
    render_matrix_html,
    render_matrix_markdown,
)

PROG = "registry-conformance matrix"
DEFAULT_DIR = Path("results") / "matrix"
EMBEDDED = "embedded"
RUN_TIMEOUT = 1800


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Run the suite against several registries; write one compatibility matrix.",
        epilog="Each ITEM is [NAME=]host:port, [NAME=]embedded (the embedded reference server) or a "
               "results.json to include as it is. Arguments after -- go to every run.")
    parser.add_argument("items", nargs="+", metavar="ITEM")
    parser.add_argument("--results-dir", default=str(DEFAULT_DIR), metavar="DIR",
                        help=f"where each run's reports and the matrix go (default {DEFAULT_DIR}/)")
    return parser


def split_item(item: str) -> tuple[str, str]:
    """(label, target or path) of ``NAME=value`` or a bare value (which is its own label)."""
    name, sep, value = item.partition("=")
    if sep and name and not re.search(r"[:/]", name):
        return name, value
    return item, item


def run_one(label: str, target: str, folder: Path, extra: Sequence[str]) -> Column:
    """Run the suite against ``target`` in its own process; its results become one column."""
    command = [sys.executable, "-m", "conformance", "--results-dir", str(folder), *extra]
    if target != EMBEDDED:
        command += ["--target", target]
    env = {k: v for k, v in os.environ.items() if k not in ("TARGET", "OCI_REGISTRY", "OCI_ROOT_URL")}
    try:
        process = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env,
                                 stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return Column(label, None, f"no results: the run took over {RUN_TIMEOUT} s")
    last = (process.stdout.strip().splitlines() or [""])[-1]
    if process.returncode == EXIT_CONFIG:
        return Column(label, None, "not run: " + (process.stderr.strip().splitlines() or ["configuration error"])[-1])
    try:
        return Column(label, load_results(folder / "results.json"), last)
    except ResultsError as exc:
        return Column(label, None, f"no results ({exc})")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in args:
        args, extra = args[:args.index("--")], args[args.index("--") + 1:]
    options = build_parser().parse_args(args)
    root = Path(options.results_dir)
    columns: list[Column] = []
    for item in options.items:
        label, value = split_item(item)
        if value.endswith(".json") or Path(value).is_file():
            try:
                column = Column(label if label != value else Path(value).parent.name or value, load_results(value))
            except ResultsError as exc:
                column = Column(label, None, f"no results ({exc})")
        else:
            folder = root / re.sub(r"[^A-Za-z0-9._-]+", "_", label)
            print(f"{label}: running the suite against {value} ...", flush=True)
            column = run_one(label, value, folder, extra)
        clients = clients_verdict(column.results)
        print(f"{column.label}: {column.note or 'read'}" + (f"; clients {clients}" if clients != "–" else ""),
              flush=True)
        columns.append(column)
    root.mkdir(parents=True, exist_ok=True)
    markdown = render_matrix_markdown(columns)
    (root / "matrix.md").write_text(markdown, encoding="utf-8")
    (root / "matrix.html").write_text(render_matrix_html(columns), encoding="utf-8")
    print()
    print(markdown.split("\n\n")[1])  # the registries' summary; the checks are in the files
    print(f"\nmatrix: {root / 'matrix.md'}\n  html: {root / 'matrix.html'}")
    missing = [c.label for c in columns if c.results is None]
    print(f"{len(columns) - len(missing)} of {len(columns)} registries compared"
          + (f"; not run: {', '.join(missing)}" if missing else ""))
    return EXIT_CONFIG if missing else EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
