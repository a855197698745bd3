"""The fixtures every check uses: target, client, unique repositories, cleanup, push helpers.

The contract (other check modules rely on it): ``target``, ``client``, ``settings``, ``cleanup``
(session); ``repo``, ``other_repo``, ``push_image``, ``push_artifact``, ``push_index`` and the
parametrised ``upload_mode`` (function).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from conformance.recording import recorder_of
from conformance.session import ConfigurationError, EmbeddedServer, Settings, preflight
from conformance.steps import assert_written_blob, assert_written_manifest
from registry_harness import builders, spec
from registry_harness.client import UPLOAD_MODES, RegistryClient
from registry_harness.target import Target

SETTINGS_KEY = pytest.StashKey[Settings]()
CLIENT_KEY = pytest.StashKey[RegistryClient]()
EMBEDDED_KEY = pytest.StashKey[EmbeddedServer]()
REPO_PREFIX = "conformance"
GIVE_UP_AFTER_TIMEOUTS = 3  # timeouts in a row after which the registry counts as stopped
_SLUG_RE = re.compile(r"[^a-z0-9]+")
# Cleanup tolerates these answers: already gone, deletion off, or deletion refused as unsupported.
CLEANUP_TOLERATED = (200, 202, 204, 400, 404, 405)
CLEANUP_SECONDS = 60.0  # the run's cleanup never takes longer
CLEANUP_REQUEST_TIMEOUT = 5.0


def settings_of(config: pytest.Config) -> Settings:
    """The run's Settings (the plugin stores them at configure time)."""
    if SETTINGS_KEY not in config.stash:
        config.stash[SETTINGS_KEY] = Settings()
    return config.stash[SETTINGS_KEY]


@pytest.fixture(scope="session")
def settings(request: pytest.FixtureRequest) -> Settings:
    """Run-wide switches: strict, skip_cleanup, results_dir, disabled areas, run id, target."""
    return settings_of(request.config)


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Target]:
    """The registry under test; with no target configured, the embedded reference server."""
    if settings.target is not None:
        if not settings.embedded:
            try:
                preflight(settings.target)
            except ConfigurationError as exc:
                pytest.exit(str(exc), returncode=2)
        yield settings.target
        return
    server = EmbeddedServer()
    try:
        settings.target = server.start()
    except ConfigurationError as exc:
        pytest.exit(str(exc), returncode=2)
    settings.embedded = True
    request.config.stash[EMBEDDED_KEY] = server
    try:
        yield settings.target
    finally:
        server.stop()


@pytest.fixture(scope="session")
def client(request: pytest.FixtureRequest, target: Target) -> RegistryClient:
    """A RegistryClient for the target; every exchange is attached to the running check."""
    client = RegistryClient(target, recorder=recorder_of(request.config).record,
                            timeout=request.config.option.conformance_request_timeout,
                            give_up_after=GIVE_UP_AFTER_TIMEOUTS)
    request.config.stash[CLIENT_KEY] = client  # a check stopped by its budget counts as a timeout of it
    return client


def repository_name(run_id: str, nodeid: str, suffix: str = "") -> str:
    """``conformance-<run>/<module>/<test>[-suffix]``: a valid, per-run, per-test unique name."""
    path, _, name = nodeid.rpartition("::")
    module = _slug(path.rsplit("/", 1)[-1].removesuffix(".py").removeprefix("test_"))
    test = _slug(name.removeprefix("test_")) + (f"-{suffix}" if suffix else "")
    if len(test) > 120:
        test = test[:100].rstrip("-") + "-" + hashlib.sha256(test.encode()).hexdigest()[:12]
    name = f"{REPO_PREFIX}-{run_id or 'run'}/{module}/{test}"
    assert spec.valid_name(name), f"harness built an invalid repository name {name!r}"
    return name


def _slug(text: str) -> str:
    return _SLUG_RE.sub("-", text.lower()).strip("-") or "x"


@pytest.fixture
def repo(request: pytest.FixtureRequest, settings: Settings) -> str:
    """A repository name for this check: OCI_REPO1 when configured, else unique per test and run."""
    if settings.target is not None and settings.target.repo1:
        return settings.target.repo1
    return repository_name(settings.run_id, request.node.nodeid)


@pytest.fixture
def other_repo(request: pytest.FixtureRequest, settings: Settings, repo: str) -> str:
    """A second repository, distinct from ``repo`` (OCI_REPO2 when configured)."""
    if settings.target is not None and settings.target.repo2:
        if settings.target.repo2 == repo:
            pytest.skip("disabled: this check needs two repositories; set OCI_REPO2 different from OCI_REPO1")
        return settings.target.repo2
    if settings.target is not None and settings.target.repo1:
        pytest.skip("disabled: this check needs a second repository; set OCI_REPO2")
    return repository_name(settings.run_id, request.node.nodeid, "other")


@pytest.fixture(params=UPLOAD_MODES)
def upload_mode(request: pytest.FixtureRequest) -> str:
    """Each blob upload mode in turn: monolithic, single (POST with body), streamed, chunked."""
    return request.param


# -- cleanup -----------------------------------------------------------------------------------

_ORDER = ("tag", "referrer", "index", "manifest", "blob")


@dataclass
class Cleanup:
    """Everything a run created, deleted at session end in an order registries accept.

    Only what this run created is reported: an object is first looked up (HEAD), and one the
    registry does not hold (never created, because the check failed first) is not counted. The
    cleanup is bounded in time, and skipped when the registry has stopped answering.
    """

    client: RegistryClient
    entries: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: {k: [] for k in _ORDER})
    report: dict[str, int] = field(default_factory=lambda: {"deleted": 0, "tolerated": 0, "failed": 0})
    seconds: float = CLEANUP_SECONDS

    def manifest(self, repo: str, digest: str, kind: str = "manifest") -> None:
        """Remember a manifest; ``kind`` is "manifest", "index" or "referrer" (has a subject)."""
        self._add(kind if kind in ("referrer", "index") else "manifest", repo, digest)

    def blob(self, repo: str, digest: str) -> None:
        self._add("blob", repo, digest)

    def tag(self, repo: str, tag: str) -> None:
        self._add("tag", repo, tag)

    def _add(self, kind: str, repo: str, ref: str) -> None:
        if (repo, ref) not in self.entries[kind]:
            self.entries[kind].append((repo, ref))

    def run(self) -> dict[str, int]:
        """Delete everything remembered that the registry holds; never raises (leftovers are counted)."""
        deadline = time.monotonic() + self.seconds
        for kind in _ORDER:
            for repo, ref in reversed(self.entries[kind]):
                if self._stopped(deadline):
                    self.report["left"] = self.report.get("left", 0) + 1
                    continue
                path = self.client.blob_path(repo, ref) if kind == "blob" else self.client.manifest_path(repo, ref)
                wait = min(self.client.timeout, CLEANUP_REQUEST_TIMEOUT)
                try:
                    if self.client.request("HEAD", path, timeout=wait).status_code != 200:
                        continue  # not there: never created by this run (or already gone)
                    response = self.client.request("DELETE", path, timeout=wait)
                except Exception:  # noqa: BLE001 - RegistryError or anything else: cleanup never fails the run
                    self.report["failed"] += 1
                    continue
                if response.status_code in (200, 202, 204):
                    self.report["deleted"] += 1
                elif response.status_code in CLEANUP_TOLERATED:
                    self.report["tolerated"] += 1
                else:
                    self.report["failed"] += 1
            self.entries[kind].clear()
        return self.report

    def _stopped(self, deadline: float) -> bool:
        if self.client.stall.stopped:
            self.report["skipped_reason"] = "the registry stopped answering"  # type: ignore[assignment]
            return True
        if time.monotonic() > deadline:
            self.report["skipped_reason"] = f"cleanup took longer than {self.seconds:g} s"  # type: ignore[assignment]
            return True
        return False


CLEANUP_KEY = pytest.StashKey[Cleanup]()


@pytest.fixture(scope="session")
def cleanup(request: pytest.FixtureRequest, settings: Settings, client: RegistryClient) -> Iterator[Cleanup]:
    """``cleanup.manifest/blob/tag(repo, ref)``: deleted at session end unless --skip-cleanup."""
    state = Cleanup(client)
    request.config.stash[CLEANUP_KEY] = state
    yield state
    if settings.skip_cleanup:
        return
    recorder_of(request.config).end()
    state.run()


# -- push helpers ------------------------------------------------------------------------------

def push_tree(client: RegistryClient, cleanup: Cleanup, repo: str, image: builders.Manifest,
              tag: str | None = None, mode: str = "monolithic") -> builders.Manifest:
    """Push children (by digest) first, then blobs not yet present, then the manifest itself;
    every step must succeed and every acknowledged write is read back (HEAD of each blob, GET of
    the manifest, the digests the registry reports); everything pushed is registered for cleanup."""
    for child in image.children:
        push_tree(client, cleanup, repo, child, None, mode)
    for blob in image.blobs:
        if client.head_blob(repo, blob.digest).status_code != 200:
            client.push_blob(repo, blob.data, mode, algorithm=blob.algorithm)
            assert_written_blob(client, repo, blob.digest, blob.size, f"the {mode} upload")
        cleanup.blob(repo, blob.digest)
    reference = tag or image.digest
    response = client.put_manifest(repo, reference, image.manifest, image.media_type, expect=201)
    client.check_reported_digest(response, image.digest, f"PUT manifests/{reference}")
    assert_written_manifest(client, repo, reference, image.manifest, image.media_type, "its PUT")
    kind = "referrer" if image.subject else "index" if image.media_type in spec.INDEX_MEDIA_TYPES else "manifest"
    cleanup.manifest(repo, image.digest, kind)
    if tag:
        cleanup.tag(repo, tag)
    return image


@pytest.fixture
def push_image(client: RegistryClient, cleanup: Cleanup, repo: str) -> Callable[..., builders.Manifest]:
    """``push_image(fmt="oci"|"docker", layer_sizes=(…), repo=None, tag=None, subject=None,
    mode="monolithic", **build_image_kwargs)``: build, push (blobs then manifest) and return it."""
    default_repo = repo

    def push(fmt: str = "oci", layer_sizes: tuple[int, ...] = (512,), repo: str | None = None,
             tag: str | None = None, subject: builders.Manifest | None = None, mode: str = "monolithic",
             **kwargs: object) -> builders.Manifest:
        image = builders.build_image(tuple(layer_sizes), fmt, subject=subject, **kwargs)  # type: ignore[arg-type]
        return push_tree(client, cleanup, repo or default_repo, image, tag, mode)

    return push


@pytest.fixture
def push_artifact(client: RegistryClient, cleanup: Cleanup, repo: str) -> Callable[..., builders.Manifest]:
    """``push_artifact(artifact_type=…, subject=None, blobs=…, annotations=None, repo=None, tag=None,
    mode="monolithic", config_style="empty")``: build_artifact, push and return it."""
    default_repo = repo

    def push(artifact_type: str = "application/vnd.registry-harness.test+json", *, repo: str | None = None,
             tag: str | None = None, mode: str = "monolithic", **kwargs: object) -> builders.Manifest:
        artifact = builders.build_artifact(artifact_type, **kwargs)  # type: ignore[arg-type]
        return push_tree(client, cleanup, repo or default_repo, artifact, tag, mode)

    return push


@pytest.fixture
def push_index(client: RegistryClient, cleanup: Cleanup, repo: str) -> Callable[..., builders.Manifest]:
    """``push_index(children=None, fmt="oci", repo=None, tag=None, annotations=None, platforms=None)``:
    push each child (two small images when none are given) by digest, then the index."""
    default_repo = repo

    def push(children: list[builders.Manifest] | None = None, fmt: str = "oci", *, repo: str | None = None,
             tag: str | None = None, annotations: dict[str, str] | None = None,
             platforms: list[dict[str, str]] | None = None, mode: str = "monolithic") -> builders.Manifest:
        if children is None:
            children = [builders.build_image((256,), fmt), builders.build_image((256,), fmt)]
        index = builders.build_index(list(children), fmt, annotations=annotations, platforms=platforms)
        return push_tree(client, cleanup, repo or default_repo, index, tag, mode)

    return push
