"""The container image for real: built from a Debian base made on this machine (nothing pulled), then
started with docker-compose from the host-network file: the reference server in the image on a
loopback port, and the suite, from the same image, judging it; then everything is taken down.

The first build makes the base (debootstrap, about two minutes; cached outside the clone), so this
test is marked ``early``: it starts first and runs beside the others instead of after them.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from registry_harness.baseimage import BaseImageError, base_tarball, import_base
from registry_harness.clients import DockerEngine, stream_errors
from registry_harness.peers import wait_ready
from registry_harness.processes import free_port
from tests.peers.support import require_tool, run

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILES = ("docker-compose.yml", "docker-compose.host.yml")
SUITE_TIMEOUT = 420
BUILD_TIMEOUT = 600  # seconds the build may stay silent (pip downloading on a busy machine)


@pytest.fixture
def compose() -> str:
    return require_tool("docker-compose")


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_compose_file_is_valid(compose: str, name: str, tmp_path: Path) -> None:
    result = run([compose, "--project-directory", str(ROOT), "-f", str(ROOT / name), "config"], timeout=60,
                 env={"RESULTS_DIR": str(tmp_path)})
    assert "services:" in result.stdout



def build_image(engine: DockerEngine, tag: str) -> str:
    """Make (or reuse) the local base, import it, and build the Dockerfile on it; the base's name."""
    require_tool("debootstrap")
    try:
        base = import_base(engine.api, base_tarball())
    except BaseImageError as exc:
        pytest.fail(f"the local base image could not be made: {exc}", pytrace=False)
    events = list(engine.api.build(path=str(ROOT), tag=tag, buildargs={"BASE_IMAGE": base}, network_mode="host",
                                   rm=True, forcerm=True, pull=False, decode=True, timeout=BUILD_TIMEOUT))
    errors = stream_errors(events)
    assert not errors, "docker build failed:\n" + "".join(e.get("stream", "") for e in events)[-3000:] + \
        "\n" + "\n".join(errors)
    return base


@pytest.mark.early
def test_image_builds_locally_and_compose_runs_the_suite_against_it(engine: DockerEngine, compose: str,
                                                                    tmp_path: Path) -> None:
    tag = f"registry-harness:test-{secrets.token_hex(4)}"
    networks = sorted(n["Name"] for n in engine.api.networks())
    try:
        build_image(engine, tag)
        config = engine.inspect(tag)["Config"]
        assert config["User"] == "registry" and config["Cmd"][:3] == ["python", "-m", "reference_server"]

        port, results = free_port(), tmp_path / "results"
        env = {"IMAGE": tag, "REFERENCE_PORT": str(port), "RESULTS_DIR": str(results), "DOCKER_HOST": engine.where}
        project = ["-p", f"rh{secrets.token_hex(4)}", "--project-directory", str(ROOT),
                   "-f", str(ROOT / "docker-compose.host.yml")]
        try:
            run([compose, *project, "up", "-d", "--no-build", "reference"], timeout=120, env=env)
            wait_ready(f"http://127.0.0.1:{port}", timeout=60)
            suite = run([compose, *project, "run", "--rm", "-T", "conformance"], timeout=SUITE_TIMEOUT, env=env,
                        check=False)
        finally:
            run([compose, *project, "down", "-v", "--remove-orphans", "--timeout", "5"], timeout=120, env=env,
                check=False)
        output = (suite.stdout + suite.stderr)[-4000:]
        assert suite.returncode == 0, f"the suite in the image judged the server in the image: exit " \
            f"{suite.returncode}\n{output}"
        verdict = json.loads((results / "results.json").read_text())
        assert verdict["counts"]["fail"] == 0 and verdict["counts"]["error"] == 0
        assert verdict["counts"]["pass"] > 100, verdict["counts"]
        assert verdict["target"]["url"] == f"http://127.0.0.1:{port}"
        assert not engine.api.containers(all=True), "containers were left behind"
        assert sorted(n["Name"] for n in engine.api.networks()) == networks, "a network was created"
    finally:
        engine.remove(tag)
