"""The suite tells the truth: every deliberately broken registry is caught by the checks it targets,
and the same checks pass against the correct reference server.

Each variant from ``tests/broken/*.py`` runs as its own test: the reference app (memory storage,
the variant's switches) wrapped in the variant's middleware is served on a loopback port, and
``python -m conformance -k <select>`` runs in a subprocess against it. Every check whose id
contains a ``must_fail`` entry must end as **fail** (never error), and no check may error.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import tests.broken
from reference_server.__main__ import build_parser, config_from_args
from reference_server.app import create_app
from reference_server.launcher import serve_in_thread
from tests.broken import Variant
from tests.peers.support import peers_env

ROOT = Path(__file__).resolve().parents[1]
RUN_TIMEOUT = 180


def discover() -> list[tuple[str, Variant]]:
    """(module name, variant) for every VARIANTS list in tests/broken/*.py."""
    found = []
    for info in sorted(pkgutil.iter_modules(tests.broken.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"tests.broken.{info.name}")
        found += [(info.name, variant) for variant in getattr(module, "VARIANTS", [])]
    return found


VARIANTS = discover()


def run_suite(variant: Variant, results: Path, with_middleware: bool,
              peers: dict[str, str] | None = None) -> tuple[int, dict, str]:
    """Serve the (broken or correct) reference app and run the selected checks against it (``peers``: the
    environment that points the variant's real clients at their engine)."""
    args = build_parser().parse_args([*variant.server_args, "--storage", "memory"])
    middlewares = [variant.middleware] if with_middleware and variant.middleware is not None else []
    app = create_app(config_from_args(args), middlewares=middlewares)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OCI_", "PYTEST_", "DOCKER_HOST"))} \
        | dict(variant.env) | (peers or {})
    strict = ["--strict"] if variant.strict else []
    with serve_in_thread(app) as url:
        process = subprocess.run(
            [sys.executable, "-m", "conformance", "--target", url, "-k", variant.select, *strict, *variant.args,
             "--results-dir", str(results), "-p", "no:xdist"],
            cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env,
        )
    output = process.stdout[-4000:] + process.stderr[-2000:]
    path = results / "results.json"
    assert path.exists(), f"no results.json written (exit {process.returncode}):\n{output}"
    return process.returncode, json.loads(path.read_text()), output


def _ids(variants: list[tuple[str, Variant]]) -> list[str]:
    return [f"{module}:{variant.name}" for module, variant in variants]


@pytest.mark.parametrize(("module", "variant"), VARIANTS, ids=_ids(VARIANTS))
def test_broken_registry_is_caught(module: str, variant: Variant, tmp_path: Path,
                                   request: pytest.FixtureRequest) -> None:
    peers = peers_env(request, variant.peers)
    code, results, output = run_suite(variant, tmp_path, with_middleware=True, peers=peers)
    checks = results["checks"]
    errors = [c for c in checks if c["status"] == "error"]
    assert not errors, f"{variant.name}: harness errors instead of verdicts:\n" + \
        "\n".join(f"{c['id']}: {c['message'][:600]}" for c in errors)
    for wanted in variant.must_fail:
        matching = [c for c in checks if wanted in c["id"]]
        assert matching, f"{variant.name}: no check matches {wanted!r} (select {variant.select!r})\n{output}"
        for check in matching:
            assert check["status"] == "fail", (
                f"{variant.name} ({variant.description}) was not caught by {check['id']}: "
                f"{check['status']} {check['reason'] or check['message'][:300]}"
            )
            assert check["message"], f"{check['id']} failed without saying why"
    assert code == 1, f"{variant.name}: exit code {code}, expected 1\n{output}"


def _controls() -> list[tuple[str, Variant]]:
    """One control run per distinct (switches, selection) among the variants."""
    seen: dict[tuple[object, ...], tuple[str, Variant]] = {}
    for module, variant in VARIANTS:
        seen.setdefault((variant.server_args, variant.select, variant.strict, variant.env, variant.args,
                         variant.peers),
                        (module, variant))
    return list(seen.values())


CONTROLS = _controls()


@pytest.mark.parametrize(("module", "variant"), CONTROLS, ids=_ids(CONTROLS))
def test_correct_registry_passes_the_same_checks(module: str, variant: Variant, tmp_path: Path,
                                                request: pytest.FixtureRequest) -> None:
    peers = peers_env(request, variant.peers)
    code, results, output = run_suite(variant, tmp_path, with_middleware=False, peers=peers)
    checks = results["checks"]
    assert checks, f"selection {variant.select!r} ran no check"
    bad = [c for c in checks if c["status"] in ("fail", "error")]
    assert not bad, f"the correct server fails {variant.select!r}:\n" + \
        "\n".join(f"{c['id']}: {c['status']} {c['message'][:600]}" for c in bad)
    if variant.peers:  # the real clients are all there: none of their checks may skip
        skipped = [f"{c['id']}: {c['reason']}" for c in checks if c["status"] != "pass"]
        assert not skipped, "checks of real clients did not run against the correct server:\n" + "\n".join(skipped)
    assert code == 0, f"exit code {code} against the correct server\n{output}"


def test_every_variant_names_what_it_breaks() -> None:
    names = [f"{module}:{variant.name}" for module, variant in VARIANTS]
    assert len(names) == len(set(names)), "variant names must be unique within their module"
    for module, variant in VARIANTS:
        assert variant.must_fail and variant.select and variant.description, f"{module}:{variant.name} is incomplete"
        assert variant.middleware is not None or variant.server_args, f"{module}:{variant.name} breaks nothing"



def test_every_check_is_shown_to_fail_by_a_variant() -> None:
    """Each check of the suite is named by some variant's ``must_fail``: none is left unproven."""
    listing = subprocess.run([sys.executable, "-m", "conformance", "--list"], cwd=ROOT, capture_output=True,
                             text=True, timeout=RUN_TIMEOUT)
    checks = [line.split("\t", 1)[0] for line in listing.stdout.splitlines() if "::" in line]
    assert len(checks) > 100, listing.stdout[-2000:] + listing.stderr[-2000:]
    named = [wanted for _, variant in VARIANTS for wanted in variant.must_fail]
    unproven = [check for check in checks if not any(wanted in check for wanted in named)]
    assert not unproven, f"{len(unproven)} checks no broken variant is shown to fail:\n" + "\n".join(unproven)
