"""``python -m conformance`` as a user and a CI job meet it: exit codes, one-line configuration
errors, --list, reports, disabled areas, SHOULD warnings and --strict, and no secret in any output."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from reference_server.app import create_app
from reference_server.config import ServerConfig
from reference_server.launcher import serve_in_thread
from registry_harness.processes import free_port

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 120
USER, PASSWORD = "ci-robot", "s3cret-Pa55-word-for-conformance"


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OCI_", "TARGET"))}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "conformance", *args], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=TIMEOUT)


@pytest.fixture
def registry() -> Iterator[str]:
    """The correct reference registry (memory storage) on a loopback port."""
    with serve_in_thread(create_app(ServerConfig(storage="memory"))) as url:
        yield url


def serve_broken(*middlewares) -> object:
    return serve_in_thread(create_app(ServerConfig(storage="memory"), middlewares=list(middlewares)))


@web.middleware
async def v2_root_404(request: web.Request, handler):
    if request.path == "/v2/":
        return web.Response(status=404, text="not a registry")
    return await handler(request)


@web.middleware
async def cancel_answers_202(request: web.Request, handler):
    """Upload cancel answers 202 instead of the 204 the spec says it SHOULD."""
    response = await handler(request)
    if request.method == "DELETE" and "/blobs/uploads/" in request.path and response.status == 204:
        response.set_status(202)
    return response


@web.middleware
async def basic_auth_echoing_password(request: web.Request, handler):
    """Basic auth, and a /v2/ that (wrongly) echoes the credentials it received in a 404 body."""
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    if request.headers.get("Authorization") != expected:
        return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="conformance"'})
    if request.path == "/v2/":
        return web.Response(status=404, text=f"hello {USER}, your password is {PASSWORD}")
    return await handler(request)


def _one_clear_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    assert "Traceback" not in result.stderr + result.stdout
    return lines[0]


def test_unreachable_target_is_exit_2_with_one_line(tmp_path: Path) -> None:
    port = free_port()  # free, so nothing answers there
    result = run_cli("--target", f"127.0.0.1:{port}", "--results-dir", str(tmp_path))
    assert result.returncode == 2
    line = _one_clear_line(result)
    assert f"127.0.0.1:{port}" in line and "unreachable" in line


@pytest.mark.parametrize("value", ["ftp://registry.invalid", "localhost:99999", "http://host:5000/some/path"])
def test_malformed_target_is_exit_2_with_one_line(value: str, tmp_path: Path) -> None:
    result = run_cli("--results-dir", str(tmp_path), env={"TARGET": value})
    assert result.returncode == 2
    assert "target" in _one_clear_line(result)


def test_bad_tls_mode_and_unknown_area_are_configuration_errors(tmp_path: Path) -> None:
    result = run_cli("--target", "127.0.0.1:5000", "--results-dir", str(tmp_path), env={"OCI_TLS": "maybe"})
    assert result.returncode == 2 and "TLS mode" in _one_clear_line(result)
    result = run_cli("--disable", "nonsense", "--results-dir", str(tmp_path))
    assert result.returncode == 2 and "unknown area" in _one_clear_line(result)


def test_list_prints_every_check_without_network() -> None:
    result = run_cli("--list", "--target", f"127.0.0.1:{free_port()}")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines() if line.count("\t") == 5]
    ids = {row[0] for row in rows}
    assert "conformance/checks/test_base.py::test_api_version_check" in ids
    assert "conformance/checks/test_push.py::test_blob_upload[chunked]" in ids
    assert "conformance/checks/test_seed.py::test_seed_delete_by_reported_digest_is_404" in ids
    for check_id, area, rule_id, level, text, doc in rows:
        assert area and rule_id and level in ("MUST", "SHOULD", "MAY") and text, check_id
        assert doc in ("OCI 1.1", "OCI main", "Docker Registry HTTP API V2"), check_id
    assert len(ids) == len(rows), "check ids must be unique"


def test_passing_run_exits_0_and_writes_every_report(registry: str, tmp_path: Path) -> None:
    result = run_cli("--target", registry, "-k", "test_base or test_blob_get", "--results-dir", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "area" in result.stdout and "total" in result.stdout  # the summary table
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["counts"]["pass"] == data["counts"]["total"] >= 4
    assert data["target"]["url"] == registry and data["exit_code"] == 0
    check = next(c for c in data["checks"] if c["id"].endswith("::test_blob_get"))
    assert (check["area"], check["rule"], check["level"], check["status"]) == ("pull", "end-2", "MUST", "pass")
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0" and int(suite.get("tests")) == data["counts"]["total"]
    assert "<html" in (tmp_path / "report.html").read_text().lower()


def test_failing_check_exits_1_with_rule_exchanges_and_curl(tmp_path: Path) -> None:
    with serve_broken(v2_root_404) as url:
        result = run_cli("--target", url, "-k", "test_api_version_check", "--results-dir", str(tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL conformance/checks/test_base.py::test_api_version_check" in result.stdout
    assert "reproduce: curl" in result.stdout
    data = json.loads((tmp_path / "results.json").read_text())
    failed = next(c for c in data["checks"] if c["id"].endswith("::test_api_version_check"))
    assert failed["status"] == "fail" and failed["rule"] == "end-1" and "404" in failed["message"]
    assert failed["exchanges"] and failed["exchanges"][0]["status"] == 404
    assert failed["curl"].startswith("curl ") and "/v2/" in failed["curl"]
    html = (tmp_path / "report.html").read_text()
    assert "test_api_version_check" in html and "Reproduce with curl" in html and "end-1" in html
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert suite is not None and int(suite.get("failures")) >= 1


def test_no_check_selected_is_not_a_silent_success(registry: str, tmp_path: Path) -> None:
    result = run_cli("--target", registry, "-k", "no_such_check_anywhere", "--results-dir", str(tmp_path))
    assert result.returncode == 2
    assert "no checks selected" in result.stderr


def test_disabled_area_is_reported_as_disabled(registry: str, tmp_path: Path) -> None:
    result = run_cli("--target", registry, "-k", "test_blob_upload or test_api_version_check",
                     "--results-dir", str(tmp_path), env={"OCI_TEST_PUSH": "0"})
    assert result.returncode == 0, result.stdout + result.stderr
    checks = json.loads((tmp_path / "results.json").read_text())["checks"]
    push = [c for c in checks if c["area"] == "push"]
    assert push and all(c["status"] == "disabled" and "OCI_TEST_PUSH" in c["reason"] for c in push)
    assert all(c["status"] == "pass" for c in checks if c["area"] == "base")


def test_should_is_a_warning_and_strict_makes_it_a_failure(tmp_path: Path) -> None:
    with serve_broken(cancel_answers_202) as url:
        relaxed = run_cli("--target", url, "-k", "test_upload_cancel", "--results-dir", str(tmp_path / "a"))
        strict = run_cli("--target", url, "-k", "test_upload_cancel", "--strict", "--results-dir", str(tmp_path / "b"))
    assert relaxed.returncode == 0, relaxed.stdout + relaxed.stderr
    check = json.loads((tmp_path / "a" / "results.json").read_text())["checks"][0]
    assert check["status"] == "pass" and any("204" in w for w in check["warnings"]), check
    assert check["exchanges"], "a warning carries the exchanges that show it"
    assert "WARN" in relaxed.stdout
    assert strict.returncode == 1
    assert json.loads((tmp_path / "b" / "results.json").read_text())["checks"][0]["status"] == "fail"


def test_no_secret_in_any_output(tmp_path: Path) -> None:
    encoded = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    with serve_broken(basic_auth_echoing_password) as url:
        result = run_cli("--target", url, "-k", "test_api_version_check or test_blob_get",
                         "--results-dir", str(tmp_path), env={"OCI_USERNAME": USER, "OCI_PASSWORD": PASSWORD})
    assert result.returncode == 1, result.stdout + result.stderr  # /v2/ answers 404: the base check fails
    data = json.loads((tmp_path / "results.json").read_text())
    assert any(c["status"] == "pass" for c in data["checks"]), "authenticated checks must work"
    assert any(c["exchanges"] for c in data["checks"]), "failures must carry their exchanges"
    outputs = {name: (tmp_path / name).read_text() for name in ("results.json", "junit.xml", "report.html")}
    outputs["stdout"], outputs["stderr"] = result.stdout, result.stderr
    for name, text in outputs.items():
        assert PASSWORD not in text, f"the password leaked into {name}"
        assert encoded not in text, f"the Basic credentials leaked into {name}"
    assert data["target"]["password"] == "***"


def test_plugin_runs_under_plain_pytest(registry: str, tmp_path: Path) -> None:
    """The pytest11 entry point: ``pytest conformance/checks/... --target URL`` works as well."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:locust",
         "conformance/checks/test_base.py", "--target", registry, "--results-dir", str(tmp_path), "-q"],
        cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads((tmp_path / "results.json").read_text())["counts"]["pass"] == 3


def test_tls_modes_against_an_https_registry(tmp_path: Path) -> None:
    """Verified https with the CA bundle and unverified https pass; an unknown CA is one clear line."""
    from reference_server.launcher import start_server
    from tests.auth.pki import make_pki

    pki = make_pki(tmp_path / "pki")
    with start_server(["--storage", "memory", "--tls-cert", str(pki.server_cert),
                       "--tls-key", str(pki.server_key)]) as server:
        verified = run_cli("--target", server.url, "-m", "base", "--results-dir", str(tmp_path / "a"),
                           env={"OCI_CA_BUNDLE": str(pki.ca_cert)})
        insecure = run_cli("--target", server.host_port, "--tls", "insecure", "-k", "test_blob_head",
                           "--results-dir", str(tmp_path / "b"))
        unknown_ca = run_cli("--target", server.url, "--results-dir", str(tmp_path / "c"))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert insecure.returncode == 0, insecure.stdout + insecure.stderr
    assert "InsecureRequestWarning" not in insecure.stdout + insecure.stderr
    assert json.loads((tmp_path / "b" / "results.json").read_text())["target"]["tls"] == "insecure"
    assert unknown_ca.returncode == 2
    assert "certificate verify failed" in _one_clear_line(unknown_ca)


VERDICT_CHECKS = '''
import json

from conformance.rules import rule, should, unsupported
from registry_harness.client import RegistryError


@rule("end-1", "MUST", "base", "a defect of the harness itself")
def test_harness_bug(client):
    {}["missing"]


@rule("end-1", "MUST", "base", "the registry reset the connection")
def test_registry_reset(client):
    raise RegistryError("GET /v2/: no usable answer from the registry (Connection reset by peer)")


@rule("end-1", "MUST", "base", "the registry answered invalid JSON")
def test_registry_invalid_json(client):
    json.loads("{not json")


@rule("end-1", "MUST", "base", "a valid 'unsupported' answer")
def test_feature_unsupported(client):
    unsupported("the registry answered 405 for this optional feature")


@rule("end-1", "SHOULD", "base", "a SHOULD-level rule not met")
def test_should_level_rule(client):
    should(client.ping().status_code == 418, "the registry is not a teapot")
'''


def test_verdicts_follow_the_five_states(registry: str, tmp_path: Path) -> None:
    checks_file = tmp_path / "test_verdict_checks.py"
    checks_file.write_text(VERDICT_CHECKS)
    result = run_cli("--target", registry, str(checks_file), "--results-dir", str(tmp_path / "r"))
    assert result.returncode == 1, result.stdout + result.stderr
    data = json.loads((tmp_path / "r" / "results.json").read_text())
    checks = {c["id"].rsplit("::", 1)[-1]: c for c in data["checks"]}
    assert checks["test_harness_bug"]["status"] == "error"
    assert "KeyError" in checks["test_harness_bug"]["message"]
    assert checks["test_registry_reset"]["status"] == "fail"
    assert checks["test_registry_invalid_json"]["status"] == "fail"
    assert checks["test_feature_unsupported"]["status"] == "skip"
    assert checks["test_feature_unsupported"]["reason"] == "the registry answered 405 for this optional feature"
    should = checks["test_should_level_rule"]
    assert should["status"] == "pass" and "not a teapot" in should["warnings"][0]


@pytest.mark.parametrize(("switch", "skipped", "phrase"), [
    ("--read-only", ("test_blob_upload[chunked]", "test_blob_get", "test_manifest_get[oci-index-tag]",
                     "test_seed_docker_push", "test_mount_from_other_repository"), "refuses writes"),
    ("--no-delete", ("test_seed_delete_by_reported_digest_is_404", "test_seed_delete_by_stored_digest_is_202"),
     "deletion is disabled"),
    ("--no-catalog", ("test_seed_catalog_lists_repository",), "not offered"),
])
def test_switched_off_features_are_unsupported_not_failed(switch: str, skipped: tuple[str, ...], phrase: str,
                                                          tmp_path: Path) -> None:
    """The embedded server with a switch (via --server-arg): base/push/pull/seed never fail for it."""
    result = run_cli("-m", "base or push or pull or seed", f"--server-arg={switch}", "--results-dir", str(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    checks = {c["id"].rsplit("::", 1)[-1]: c for c in json.loads((tmp_path / "results.json").read_text())["checks"]}
    assert not [c for c in checks.values() if c["status"] in ("fail", "error")]
    for name in skipped:
        assert checks[name]["status"] == "skip" and phrase in checks[name]["reason"], (name, checks[name])
    assert checks["test_api_version_check"]["status"] == "pass"
