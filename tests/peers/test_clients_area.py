"""The suite's ``clients`` area, run as users run it (``python -m conformance -m clients``) with a private
Docker engine, skopeo, podman and oras-py: against the reference server and Distribution 2.8.2 every
client works and the verdict line names each with its version; with credentials and https the
clients get both; a registry that refuses writes or deletes is unsupported, never failing; a machine
without an engine skips docker with the reason.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from reference_server.launcher import start_server
from tests.auth.conftest import Users, access_policy
from tests.auth.pki import make_pki
from tests.peers.support import netloc, peers_env

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 300
CLIENTS = ("docker", "skopeo", "podman", "oras")
CHECKS = ("test_docker_push_pull_round_trip", "test_docker_run_pulled_image", "test_skopeo_copy_round_trip",
          "test_skopeo_delete", "test_podman_push_pull_round_trip", "test_oras_push_pull_round_trip",
          "test_oras_delete_tag")
VERDICT = re.compile(r"clients: works with docker 20\.\d+ / skopeo 1\.\d+ / podman 4\.\d+ / oras-py 0\.\d+")


def run_clients_area(target: str, results: Path, env: dict[str, str], *args: str) -> tuple[int, dict, str]:
    """``python -m conformance --target TARGET -m clients``; (exit code, results.json, output)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OCI_", "PYTEST_", "TARGET", "DOCKER_HOST"))}
    process = subprocess.run(
        [sys.executable, "-m", "conformance", "--target", target, "-m", "clients", "--results-dir", str(results),
         "-p", "no:xdist", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=clean | env, stdin=subprocess.DEVNULL)
    output = process.stdout[-5000:] + process.stderr[-2000:]
    assert (results / "results.json").exists(), f"no results.json (exit {process.returncode}):\n{output}"
    return process.returncode, json.loads((results / "results.json").read_text()), output


def statuses(results: dict) -> dict[str, tuple[str, str]]:
    return {c["name"]: (c["status"], c["reason"] or c["message"][:800]) for c in results["checks"]}


def test_every_client_works_with_the_registry(request: pytest.FixtureRequest, registry: str, tmp_path: Path) -> None:
    env = peers_env(request, CLIENTS)
    code, results, output = run_clients_area(netloc(registry), tmp_path, env)
    assert {name: status for name, (status, _) in statuses(results).items()} == dict.fromkeys(CHECKS, "pass"), \
        f"{statuses(results)}\n{output}"
    assert code == 0, output
    assert VERDICT.search(output), output
    clients = results["clients"]
    assert {name: info["verdict"] for name, info in clients.items()} == dict.fromkeys(
        ("docker", "skopeo", "podman", "oras-py"), "works")
    assert clients["docker"]["version"].startswith("20.10") and clients["skopeo"]["version"].startswith("1.")
    assert "works with docker 20." in (tmp_path / "report.html").read_text()


@pytest.mark.parametrize("auth", ["token", "htpasswd"])
def test_credentials_and_tls_reach_every_client(request: pytest.FixtureRequest, tmp_path: Path, auth: str) -> None:
    """Token auth over verified https (CA bundle), and Basic auth over unverified https: all clients log in."""
    env = peers_env(request, CLIENTS)
    pki = make_pki(tmp_path / "pki")
    users = Users(alice="alice-client-secret-4711", bob="bob-client-secret-0815")
    policy = access_policy(users)
    if auth == "token":
        (tmp_path / "access.json").write_text(json.dumps(policy))
        mode, tls, extra = f"token:{tmp_path / 'access.json'}", "enabled", {"OCI_CA_BUNDLE": str(pki.ca_cert)}
    else:
        (tmp_path / "users.htpasswd").write_text(f"alice:{policy['users']['alice']}\n")
        mode, tls, extra = f"htpasswd:{tmp_path / 'users.htpasswd'}", "insecure", {}
    with start_server(["--storage", "memory", "--auth", mode, "--tls-cert", str(pki.server_cert),
                       "--tls-key", str(pki.server_key)]) as server:
        code, results, output = run_clients_area(
            server.host_port, tmp_path / "results", env | extra | {"OCI_USERNAME": "alice",
                                                                  "OCI_PASSWORD": users.alice},
            "--tls", tls)
    assert {name: status for name, (status, _) in statuses(results).items()} == dict.fromkeys(CHECKS, "pass"), \
        f"{statuses(results)}\n{output}"
    assert results["target"]["tls"] == tls
    assert users.alice not in output + (tmp_path / "results" / "results.json").read_text()


SWITCHES = {
    "--read-only": (CHECKS, "refuses writes"),
    "--no-delete": (("test_skopeo_delete", "test_oras_delete_tag"), "deletion is disabled"),
}


@pytest.mark.parametrize("switch", list(SWITCHES))
def test_a_registry_that_refuses_is_unsupported_not_failing(request: pytest.FixtureRequest, tmp_path: Path,
                                                            switch: str) -> None:
    env = peers_env(request, CLIENTS)
    with start_server(["--storage", "memory", switch]) as server:
        code, results, output = run_clients_area(server.host_port, tmp_path, env)
    skipped, phrase = SWITCHES[switch]
    found = statuses(results)
    for name in CHECKS:
        status, reason = found[name]
        if name in skipped:
            assert status == "skip" and phrase in reason, f"{switch}: {name} ended {status}: {reason}\n{output}"
        else:
            assert status == "pass", f"{switch}: {name} ended {status}: {reason}\n{output}"
    assert code == 0, output


def test_without_an_engine_docker_is_skipped_with_its_reason(request: pytest.FixtureRequest,
                                                             tmp_path: Path) -> None:
    env = peers_env(request, ("oras",))
    with start_server(["--storage", "memory"]) as server:
        code, results, output = run_clients_area(server.host_port, tmp_path,
                                                 env | {"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"},
                                                 "-k", "docker_push_pull or docker_run or oras_push")
    found = statuses(results)
    for name in ("test_docker_push_pull_round_trip", "test_docker_run_pulled_image"):
        assert found[name][0] == "skip" and "no Docker engine answers" in found[name][1], found[name]
    assert found["test_oras_push_pull_round_trip"][0] == "pass"
    assert results["clients"]["docker"]["verdict"] == "not tried"
    assert re.search(r"clients: works with oras-py 0\.\d+; not tried: docker "
                     r"\(no Docker engine answers at unix://", output), output
    assert code == 0, output
