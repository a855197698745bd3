"""The clients line of every report: which real clients the registry works with, fails with, or was not
tried with (and why), each with its major.minor version."""

from __future__ import annotations

from registry_harness.reports import CheckResult, client_verdicts, clients_line


def check(name: str, client: str, status: str, reason: str = "", message: str = "") -> CheckResult:
    return CheckResult(id=f"c::{name}", name=name, area="clients", status=status, reason=reason, message=message,
                       client=client)


def test_works_fails_and_not_tried_with_versions_and_reasons() -> None:
    checks = [
        check("docker_round_trip", "docker", "pass"), check("docker_run", "docker", "pass"),
        check("skopeo_round_trip", "skopeo", "pass"),
        check("skopeo_delete", "skopeo", "skip", reason="manifest deletion is disabled (DELETE answered 405)"),
        check("podman_round_trip", "podman", "fail", message="podman pull failed: digest mismatch\nmore"),
        check("oras_round_trip", "oras-py", "skip", reason="oras-py: oras-py is not installed (pip install oras)"),
    ]
    found = {"docker": {"version": "20.10.24+dfsg1", "reason": ""}, "skopeo": {"version": "1.9.3", "reason": ""},
             "podman": {"version": "4.3.1", "reason": ""},
             "oras-py": {"version": None, "reason": "oras-py is not installed (pip install oras)"}}
    verdicts = client_verdicts(checks, found)
    assert {name: v["verdict"] for name, v in verdicts.items()} == {
        "docker": "works", "skopeo": "works", "podman": "fails", "oras-py": "not tried"}
    assert verdicts["podman"]["reason"] == "podman pull failed: digest mismatch"
    assert verdicts["skopeo"]["checks"] == {"skopeo_round_trip": "pass", "skopeo_delete": "skip"}
    assert clients_line(verdicts) == ("works with docker 20.10 / skopeo 1.9; fails with podman 4.3; "
                                      "not tried: oras-py (oras-py is not installed (pip install oras))")


def test_a_client_whose_every_check_was_unsupported_was_not_tried() -> None:
    checks = [check("docker_round_trip", "docker", "skip", reason="the registry refuses writes (405)")]
    verdicts = client_verdicts(checks, {"docker": {"version": "20.10.24", "reason": ""}})
    assert verdicts["docker"]["verdict"] == "not tried"
    assert clients_line(verdicts) == "not tried: docker 20.10 (the registry refuses writes (405))"
