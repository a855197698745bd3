"""A registry that switches a feature off is reported as unsupported, never as failing.

The reference server runs with each switch (--no-delete, --read-only, --no-referrers,
--no-catalog) and the discovery, manifests, management, referrers and errors checks run
against it through the CLI. No check may fail or error, and the checks that need the switched-off
feature must end as skip with a reason naming it (so a check that silently passed, or skipped
for some other reason, is caught too).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reference_server.launcher import start_server

ROOT = Path(__file__).resolve().parents[1]
AREAS = "discovery or manifests or management or referrers or errors"
RUN_TIMEOUT = 300

# switch -> (checks that must be skipped, a phrase their reason must contain)
SWITCHES = {
    "--no-delete": (
        ("test_delete_tag", "test_delete_manifest_by_digest", "test_delete_blob",
         "test_delete_unknown_manifest_is_manifest_unknown", "test_delete_unknown_blob_is_404",
         "test_catalog_after_deleting_the_last_manifest", "test_deleted_referrer_leaves_the_list"),
        "deletion is disabled",
    ),
    "--read-only": (
        ("test_tags_list_is_complete_and_in_lexical_order", "test_manifest_round_trip[oci-manifest]",
         "test_put_by_digest_with_tag_parameters", "test_delete_tag", "test_referrers_list_every_referrer",
         "test_error_answer_fits_the_situation[unknown-blob]", "test_catalog_honours_n_and_last"),
        "refuses writes",
    ),
    "--no-referrers": (
        ("test_referrers_list_every_referrer", "test_referrers_filter_by_artifact_type[artifact-type]",
         "test_referrers_of_unknown_subject_is_empty_index", "test_referrers_pages_cover_every_referrer_once",
         "test_put_with_subject_answers_oci_subject[digest]", "test_put_with_subject_answers_oci_subject[tag]"),
        "referrers API",
    ),
    "--no-catalog": (
        ("test_catalog_lists_pushed_repositories_in_order", "test_catalog_honours_n_and_last",
         "test_catalog_link_pages_never_repeat", "test_catalog_n_zero_is_empty",
         "test_catalog_after_deleting_the_last_manifest"),
        "_catalog answered 404",
    ),
}


def run_against(switch: str, results: Path) -> tuple[int, list[dict], str]:
    """Start the reference server with ``switch`` and run the five areas against it."""
    with start_server(["--storage", "memory", switch]) as server:
        process = subprocess.run(
            [sys.executable, "-m", "conformance", "--target", server.url, "-m", AREAS,
             "--results-dir", str(results), "-p", "no:xdist"],
            cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT,
        )
    output = process.stdout[-4000:] + process.stderr[-2000:]
    path = results / "results.json"
    assert path.exists(), f"{switch}: no results.json (exit {process.returncode}):\n{output}"
    return process.returncode, json.loads(path.read_text())["checks"], output


@pytest.mark.parametrize("switch", list(SWITCHES))
def test_switched_off_feature_is_unsupported_not_failing(switch: str, tmp_path: Path) -> None:
    code, checks, output = run_against(switch, tmp_path)
    by_name = {check["id"].rpartition("::")[2]: check for check in checks}
    broken = [c for c in checks if c["status"] in ("fail", "error")]
    assert not broken, f"{switch}: a switched-off feature was judged as a failure:\n" + "\n".join(
        f"  {c['id']}: {c['status']} {c['message'][:500]}" for c in broken)

    expected, phrase = SWITCHES[switch]
    for name in expected:
        assert name in by_name, f"{switch}: check {name} did not run\n{output}"
        check = by_name[name]
        assert check["status"] in ("skip", "disabled"), f"{switch}: {name} ended {check['status']}, expected skip"
        assert phrase in check["reason"], f"{switch}: {name} skipped for {check['reason']!r}, not {phrase!r}"
    assert any(c["status"] == "pass" for c in checks), f"{switch}: nothing passed; the run judged nothing"
    assert code == 0, f"{switch}: exit code {code}, expected 0 (skips are not failures)\n{output}"
