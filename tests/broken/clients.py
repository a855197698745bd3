"""Broken registries as real clients meet them: blobs served with a byte changed (docker, skopeo, podman
and oras-py must each refuse or expose what they pulled), and deletes that answer 202 but keep the
manifest (skopeo delete and oras-py's tag delete must be caught leaving it behind).
"""

from __future__ import annotations

from tests.broken import Variant, rewrite
from tests.broken.push_pull import BLOB, flip_a_byte, on
from tests.broken.seed import delete_keeps_manifest

CLIENTS = ("docker", "skopeo", "podman", "oras")
SELECT = "test_clients"

VARIANTS: list[Variant] = [
    Variant(
        "client-pulls-corrupted-blob", "blob GETs answer 200 with one byte of the content changed: every client "
        "that pulls back what it pushed gets other bytes",
        select=SELECT,
        must_fail=("test_docker_push_pull_round_trip", "test_docker_run_pulled_image", "test_skopeo_copy_round_trip",
                   "test_podman_push_pull_round_trip", "test_oras_push_pull_round_trip"),
        middleware=rewrite(on("GET", BLOB), flip_a_byte),
        peers=CLIENTS,
    ),
    Variant(
        "client-delete-keeps-manifest", "DELETE of a manifest by digest answers 202 and deletes nothing, so "
        "skopeo delete and oras-py's tag delete seem to work",
        select=SELECT,
        must_fail=("test_skopeo_delete", "test_oras_delete_tag"),
        middleware=delete_keeps_manifest,
        peers=CLIENTS,
    ),
]
