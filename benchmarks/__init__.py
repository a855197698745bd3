"""Performance benchmarks of the reference server: figures measured side by side with baselines in one run.

Run ``python -m benchmarks.bench_server`` (or ``make bench-server``); see ``docs/benchmarks.md``.
"""
