"""The conformance checks, one module per area (collected by the plugin; run with ``python -m conformance``)."""
