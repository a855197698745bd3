"""SLO gates decide the exit code; configuration errors exit 2 with one line."""

from __future__ import annotations

import os

from load import cli
from tests.load.conftest import run_module


def test_gate_out_of_reach_fails_the_run_with_actual_and_threshold(registry_url, run_load):
    run = run_load("pull", "--target", registry_url, "--users", "2", "--run-time", "3s", "--image-size", "1MiB",
                   "--min-rps", "1000000000", "--max-p95-ms", "1000000")

    assert run.returncode == 1
    gates = {g["gate"]: g for g in run.details["gates"]}
    assert gates["min_rps"]["passed"] is False and 0 < gates["min_rps"]["actual"] < 1e9
    assert gates["max_p95_ms"]["passed"] is True
    assert gates["max_failure_ratio"]["passed"] is True
    assert "gate --min-rps FAILED: actual" in run.stderr and "< threshold 1000000000 req/s" in run.stderr


def test_processes_run_meets_reachable_gates(registry_url, run_load):
    run = run_load("pull", "--target", registry_url, "--users", "2", "--run-time", "3s", "--image-size", "1MiB",
                   "--processes", "2", "--min-rps", "1", "--max-p99-ms", "60000")

    assert run.returncode == 0, run.stderr[-3000:]
    assert run.details["workers"] == 2
    assert all(g["passed"] for g in run.details["gates"])


def test_configuration_errors_exit_2_with_one_line():
    cases = {
        ("pull", "--target", "10.11.12.13:5000"): "not loopback",
        ("pull", "--target", "127.0.0.1:1"): "registry unreachable (Connection refused)",
        ("pull", "--target", "not a target"): "is not host:port",
        ("pull", "--run-time", "0"): "bounded",
        ("pull", "--run-time", "forever"): "not a duration",
    }
    for args, reason in cases.items():
        done = run_module("load", list(args), timeout=60)
        assert done.returncode == 2, (args, done.stderr)
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and reason in lines[0], (args, done.stderr)


def test_local_runs_use_every_core_by_default_each_on_its_own_master_port():
    parser = cli.build_parser()
    config = cli.config_from_args(parser.parse_args(["pull", "--target", "127.0.0.1:5000"]))
    assert config.processes == (os.cpu_count() or 1)
    single = cli.config_from_args(parser.parse_args(["pull", "--target", "127.0.0.1:5000", "--processes", "1"]))
    assert "--processes" not in cli.locust_command(single, "http://127.0.0.1:5000")
    if config.processes > 1:
        command = cli.locust_command(config, "http://127.0.0.1:5000")
        port = command[command.index("--master-bind-port") + 1]
        assert command[command.index("--processes") + 1] == str(config.processes)
        assert command[command.index("--master-port") + 1] == port != "5557"
