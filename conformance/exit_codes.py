"""The CLI's exit codes and what each means, in one table (the CLI, its --help and ``make conformance`` use it).

``python -m conformance.exit_codes N`` prints the line ``make conformance`` ends with, because make
itself turns every failing command into its own status 2.
"""

from __future__ import annotations

import os
import sys

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
MEANINGS = {
    EXIT_OK: "every MUST held (and every known deviation is still as expected)",
    EXIT_FAILED: "at least one check failed, the harness broke, or a known deviation no longer holds",
    EXIT_CONFIG: "configuration error: bad option, malformed or unreachable target, or no check selected",
}


def describe(code: int) -> str:
    """``exit code N: meaning`` (codes outside the table are named as such)."""
    meaning = MEANINGS.get(code, "not one of the tool's codes (killed, or interrupted)")
    return f"registry-conformance exit code {code}: {meaning}"


def reader_gone() -> None:
    """stdout's reader went away (``--list | head``): send the rest of the output nowhere, quietly."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        code = int(args[0])
    except (IndexError, ValueError):
        print("usage: python -m conformance.exit_codes CODE", file=sys.stderr)
        return EXIT_CONFIG
    try:
        print(describe(code), flush=True)
    except BrokenPipeError:  # `make conformance | head`: the reader is gone, nothing to tell
        reader_gone()
    return code


if __name__ == "__main__":
    raise SystemExit(main())
