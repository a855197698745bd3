"""``python -m conformance``: run the conformance suite (see conformance.cli)."""

from conformance.cli import main

raise SystemExit(main())
