"""Real clients against the target: a Docker engine (docker-py), skopeo, podman and oras-py each push a
small image built here, pull it back, and what they got must be what was pushed (digests and bytes);
docker also runs the pulled image (``--network none``); skopeo and oras-py delete what they pushed.

Each client found on this machine is used (the engine through ``DOCKER_HOST`` or the default socket);
one that is not is a skip with its reason, and every client's version goes into the report, so a run
ends with "works with docker 20.10 / podman 4.3 / ...". The target's TLS mode and credentials are
passed on in each client's own way. A client's failure is shown as the client said it (docker's
``errorDetail``, skopeo's and podman's stderr); when it failed because the registry validly refuses
writes or deletes, the check is unsupported instead.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conformance.rules import rule, unsupported, write_refused
from conformance.steps import assert_digest_header, error_codes
from registry_harness import builders, spec
from registry_harness.client import RegistryClient, RegistryError
from registry_harness.clients import (
    ClientFailure,
    ClientUnavailable,
    DockerEngine,
    oras_client,
    oras_version,
    podman_session,
    registry_options,
    require_binary,
    rootfs_tar,
    run_command,
    static_busybox,
    step,
    tool_version,
)
from registry_harness.digests import digest_of
from registry_harness.layouts import read_oci_layout, write_oci_layout
from registry_harness.target import Target

TAG = "v1"
TITLE = "org.opencontainers.image.title"
MOTD = b"registry-harness was here\n"


@dataclass
class Found:
    """A client looked for once per run: the driver (None when unavailable), its version, or why not."""

    name: str
    driver: object = None
    version: str | None = None
    reason: str = ""


def use(request: pytest.FixtureRequest, found: Found) -> object:
    """The client for this check, its version recorded for the report; a skip with the reason if unavailable."""
    request.node.user_properties.append(
        ("client", {"name": found.name, "version": found.version, "reason": found.reason}))
    if found.driver is None:
        pytest.skip(f"{found.name}: {found.reason}")
    # A real client has timeouts of its own, far longer than the suite's: hand it only a registry that
    # still answers the shared client under the repository the client will use (any status will do).
    # A registry that answers /v2/ but stalls or floods below it fails here in one request timeout, and
    # its timeouts add up, so after give_up_after of them the remaining client checks end at once.
    client: RegistryClient = request.getfixturevalue("client")
    repo: str = request.getfixturevalue("repo")
    try:
        client.tags_list(repo)
    except RegistryError as exc:
        raise RegistryError(f"{found.name} not run: {exc}") from None
    return found.driver


@pytest.fixture(scope="session")
def docker_found(target: Target) -> Iterator[Found]:
    try:
        engine = DockerEngine.connect()
    except ClientUnavailable as exc:
        yield Found("docker", reason=str(exc))
        return
    try:
        engine.check_reaches(target)
    except ClientUnavailable as exc:
        yield Found("docker", version=engine.version, reason=str(exc))
    else:
        yield Found("docker", engine, engine.version)
    finally:
        engine.close()


@pytest.fixture(scope="session")
def skopeo_found() -> Found:
    try:
        binary = require_binary("skopeo")
        return Found("skopeo", binary, tool_version(binary))
    except (ClientUnavailable, ClientFailure) as exc:
        return Found("skopeo", reason=str(exc).splitlines()[0])


@pytest.fixture(scope="session")
def podman_found() -> Iterator[Found]:
    try:
        version = tool_version(require_binary("podman"))
    except (ClientUnavailable, ClientFailure) as exc:
        yield Found("podman", reason=str(exc).splitlines()[0])
        return
    with podman_session() as podman:
        yield Found("podman", podman, version)


@pytest.fixture(scope="session")
def oras_found() -> Found:
    try:
        return Found("oras-py", True, oras_version())
    except ClientUnavailable as exc:
        return Found("oras-py", reason=str(exc))


@pytest.fixture
def docker(request: pytest.FixtureRequest, docker_found: Found) -> DockerEngine:
    return use(request, docker_found)  # type: ignore[return-value]


@pytest.fixture
def skopeo(request: pytest.FixtureRequest, skopeo_found: Found) -> str:
    return use(request, skopeo_found)  # type: ignore[return-value]


@pytest.fixture
def podman(request: pytest.FixtureRequest, podman_found: Found):
    return use(request, podman_found)


@pytest.fixture
def oras(request: pytest.FixtureRequest, oras_found: Found, target: Target, client: RegistryClient):
    use(request, oras_found)
    return oras_client(target, timeout=client.timeout)


# -- telling a refusal from a failure -----------------------------------------------------------

@contextlib.contextmanager
def pushing(client: RegistryClient, repo: str, what: str) -> Iterator[None]:
    """Run a client's push; if it fails because the registry refuses writes as such, the check is unsupported."""
    try:
        yield
    except ClientFailure:
        probe = client.start_upload(repo)
        reason = write_refused(probe)
        if probe.status_code == 202 and probe.headers.get("Location"):
            with contextlib.suppress(Exception):
                client.request("DELETE", client.location(probe))  # cancel the probe's session
        if reason:
            unsupported(f"{reason}; {what} cannot succeed")
        raise


@contextlib.contextmanager
def deleting(client: RegistryClient, repo: str, digest: str, what: str) -> Iterator[None]:
    """Run a client's delete; if the registry refuses deletion (405, 400 UNSUPPORTED), the check is unsupported."""
    try:
        yield
    except ClientFailure:
        probe = client.delete_manifest(repo, digest)
        if probe.status_code == 405 or (probe.status_code == 400 and "UNSUPPORTED" in error_codes(probe)):
            unsupported(f"manifest deletion is disabled (DELETE answered {probe.status_code}); {what} cannot succeed")
        raise


def served_image(client: RegistryClient, repo: str, reference: str, digest: str, cleanup, what: str) -> dict:
    """GET the manifest a client pushed: its bytes hash to the digest the client reported, and every blob
    it references is served and hashes to its digest. Returns the manifest body and the blobs."""
    response = client.get_manifest(repo, reference)
    client.check(response, 200, f"GET the manifest {what} pushed (end-3)")
    assert digest_of(response.content) == digest, client.explain(response, (), what) + \
        f"\n  the served manifest hashes to {digest_of(response.content)}, the client pushed {digest}"
    assert_digest_header(client, response, digest, f"GET the manifest {what} pushed")
    body = response.json()
    blobs = {}
    for descriptor in [body["config"], *body.get("layers", [])]:
        cleanup.blob(repo, descriptor["digest"])
        blobs[descriptor["digest"]] = client.pull_verified(repo, descriptor["digest"])
        assert len(blobs[descriptor["digest"]]) == descriptor["size"], \
            f"blob {descriptor['digest']} is {len(blobs[descriptor['digest']])} bytes, its descriptor says " \
            f"{descriptor['size']}"
    return {"body": body, "blobs": blobs}


# -- docker -------------------------------------------------------------------------------------

@contextlib.contextmanager
def imported(docker: DockerEngine, tar: bytes, ref: str) -> Iterator[str]:
    """``docker import`` of ``tar`` as ``ref:v1``; every local reference made is removed afterwards."""
    image_id = docker.import_tar(tar, ref, TAG)
    try:
        yield image_id
    finally:
        docker.remove(f"{ref}:{TAG}", image_id)


def docker_push(docker: DockerEngine, client: RegistryClient, cleanup, target: Target, repo: str) -> str:
    with pushing(client, repo, "docker push"):
        digest = docker.push(f"{target.netloc}/{repo}", TAG, target)
    cleanup.manifest(repo, digest)
    cleanup.tag(repo, TAG)
    return digest


@rule("end-7/end-3", "MUST", "clients", "docker push of an image built here, docker pull of it after removing "
      "it locally: the same image comes back (image id, repo digest), the registry serves the manifest docker "
      "reported and the layer is the image's own tar byte for byte")
def test_docker_push_pull_round_trip(docker: DockerEngine, client: RegistryClient, cleanup, target: Target,
                                     repo: str) -> None:
    tar = rootfs_tar({"data/payload.bin": builders.random_bytes(96 * 1024), "etc/motd": MOTD})
    ref = f"{target.netloc}/{repo}"
    with imported(docker, tar, ref) as image_id:
        digest = docker_push(docker, client, cleanup, target, repo)
        docker.remove(f"{ref}:{TAG}")
        docker.pull(ref, TAG, target)
        pulled = docker.inspect(f"{ref}:{TAG}")
        assert pulled["Id"] == image_id, f"docker pull gave image {pulled['Id']}, docker pushed {image_id}"
        assert f"{ref}@{digest}" in pulled.get("RepoDigests", []), \
            f"the pulled image's RepoDigests {pulled.get('RepoDigests')} lack {ref}@{digest} (what docker pushed)"
        served = served_image(client, repo, TAG, digest, cleanup, "docker")
    assert served["body"]["config"]["digest"] == image_id, "the manifest's config is not the image docker pushed"
    layers = served["body"]["layers"]
    assert len(layers) == 1, f"docker pushed one layer, the manifest lists {len(layers)}"
    assert gzip.decompress(served["blobs"][layers[0]["digest"]]) == tar, \
        "the layer the registry serves is not the imported tar, byte for byte"


@rule("end-3/end-2", "MUST", "clients", "docker pull by digest of an image docker pushed, then docker run --rm "
      "--network none: the container sees the files the image was built with")
def test_docker_run_pulled_image(docker: DockerEngine, client: RegistryClient, cleanup, target: Target,
                                 repo: str) -> None:
    busybox = static_busybox()
    if busybox is None:
        pytest.skip("docker run needs a static busybox to put in the image (apt-get install busybox-static)")
    payload = builders.random_bytes(32 * 1024)
    tar = rootfs_tar({"data/payload.bin": payload, "etc/motd": MOTD}, busybox=busybox)
    ref = f"{target.netloc}/{repo}"
    with imported(docker, tar, ref) as image_id:
        try:  # the engine must be able to run the image as built before the registry is judged by it
            code, output = docker.run(f"{ref}:{TAG}", ["/bin/busybox", "true"])
        except ClientFailure as exc:
            code, output = -1, str(exc)
        if code != 0:
            pytest.skip(f"docker: the engine cannot run containers here ({output.strip()[:200]})")
        digest = docker_push(docker, client, cleanup, target, repo)
        docker.remove(f"{ref}:{TAG}", image_id)
        docker.pull(ref, digest, target)
        try:
            code, output = docker.run(f"{ref}@{digest}", ["/bin/busybox", "sha256sum", "/data/payload.bin"])
        finally:
            docker.remove(f"{ref}@{digest}")
    assert code == 0, f"docker run of the pulled image exited with {code}: {output[-1000:]}"
    assert output.split()[:1] == [hashlib.sha256(payload).hexdigest()], \
        f"inside the pulled image /data/payload.bin hashes to {output.strip()[:80]!r}, not to what was built"


# -- skopeo -------------------------------------------------------------------------------------

def skopeo_copy(skopeo: str, target: Target, folder: Path, source: str, destination: str, side: str) -> None:
    run_command([skopeo, "copy", *registry_options(target, folder, f"{side}-"), source, destination])


@rule("end-7/end-3", "MUST", "clients", "skopeo copy of an OCI image into the registry and back out: manifest "
      "and every blob come back byte for byte")
def test_skopeo_copy_round_trip(skopeo: str, client: RegistryClient, cleanup, target: Target, repo: str,
                                tmp_path: Path) -> None:
    image = builders.build_image((3000, 40_000), "oci", real_layers=True)
    write_oci_layout(tmp_path / "src", image, TAG)
    ref = f"docker://{target.netloc}/{repo}:{TAG}"
    with pushing(client, repo, "skopeo copy to the registry"):
        skopeo_copy(skopeo, target, tmp_path, f"oci:{tmp_path}/src:{TAG}", ref, "dest")
    for blob in image.blobs:
        cleanup.blob(repo, blob.digest)
    cleanup.manifest(repo, image.digest)
    skopeo_copy(skopeo, target, tmp_path, ref, f"oci:{tmp_path}/back:{TAG}", "src")
    back = read_oci_layout(tmp_path / "back", TAG)
    assert back.manifest == image.manifest, "skopeo pulled other manifest bytes than it pushed"
    assert back.blobs == {blob.digest: blob.data for blob in image.blobs}, "skopeo pulled other blobs than it pushed"


@rule("end-9", "MUST", "clients", "skopeo inspect reports the pushed digest and skopeo delete by that digest "
      "removes the manifest (GET answers 404 afterwards)")
def test_skopeo_delete(skopeo: str, client: RegistryClient, cleanup, target: Target, repo: str,
                       tmp_path: Path) -> None:
    image = builders.build_image((1024,), "oci", real_layers=True)
    write_oci_layout(tmp_path / "src", image, TAG)
    ref = f"docker://{target.netloc}/{repo}"
    with pushing(client, repo, "skopeo copy to the registry"):
        skopeo_copy(skopeo, target, tmp_path, f"oci:{tmp_path}/src:{TAG}", f"{ref}:{TAG}", "dest")
    for blob in image.blobs:
        cleanup.blob(repo, blob.digest)
    cleanup.manifest(repo, image.digest)
    inspected = json.loads(run_command([skopeo, "inspect", *registry_options(target, tmp_path),
                                        f"{ref}:{TAG}"]).stdout)
    assert inspected.get("Digest") == image.digest, f"skopeo inspect reports {inspected.get('Digest')}, " \
        f"the pushed manifest is {image.digest}"
    with deleting(client, repo, image.digest, "skopeo delete"):
        run_command([skopeo, "delete", *registry_options(target, tmp_path), f"{ref}@{image.digest}"])
    gone = client.get_manifest(repo, image.digest)
    client.check(gone, 404, "GET by digest after skopeo delete (end-9)")


# -- podman -------------------------------------------------------------------------------------

@rule("end-7/end-3", "MUST", "clients", "podman push of an image it imported, podman pull after removing it: "
      "the same image comes back and the registry serves every blob it references")
def test_podman_push_pull_round_trip(podman, client: RegistryClient, cleanup, target: Target, repo: str,
                                     tmp_path: Path) -> None:
    (tmp_path / "rootfs.tar").write_bytes(rootfs_tar({"data/payload.bin": builders.random_bytes(64 * 1024),
                                                      "etc/motd": MOTD}))
    ref = f"{target.netloc}/{repo}:{TAG}"
    podman("import", str(tmp_path / "rootfs.tar"), ref)
    try:
        local_id = podman.image_id(ref)
        digest_file = tmp_path / "digest"
        with pushing(client, repo, "podman push"):
            podman("push", *registry_options(target, tmp_path), "--format", "oci", "--digestfile",
                   str(digest_file), ref)
        digest = digest_file.read_text().strip()
        cleanup.manifest(repo, digest)
        cleanup.tag(repo, TAG)
        podman("rmi", "--force", ref)
        podman("pull", *registry_options(target, tmp_path), ref)
        pulled = podman.image_id(ref)
        assert pulled == local_id, f"podman pull gave image {pulled}, podman pushed {local_id}"
    finally:
        with contextlib.suppress(ClientFailure):
            podman("rmi", "--force", ref)
    served = served_image(client, repo, TAG, digest, cleanup, "podman")
    assert served["body"].get("mediaType", spec.OCI_MANIFEST) == spec.OCI_MANIFEST
    assert served["body"]["config"]["digest"] == f"sha256:{local_id}", "the manifest's config is not podman's image"


# -- oras-py ------------------------------------------------------------------------------------

def oras_push(oras, client: RegistryClient, cleanup, target: Target, repo: str, folder: Path,
              files: dict[str, bytes]) -> str:
    """Push ``files`` as an artifact tagged v1 with oras-py; the pushed manifest's digest."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_bytes(content)
    with pushing(client, repo, "oras-py push"), step("oras-py push"):
        response = oras.push(target=f"{target.netloc}/{repo}:{TAG}", files=[str(folder / n) for n in files],
                             disable_path_validation=True, quiet=True)
        if response.status_code != 201:
            raise ClientFailure(f"oras-py push: the manifest PUT answered {response.status_code}: "
                                f"{response.text[:500]}")
    digest = (response.headers.get("Docker-Content-Digest") or "").strip()
    with step("oras-py get_manifest"):
        manifest = oras.get_manifest(f"{target.netloc}/{repo}:{TAG}")
    for layer in [manifest.get("config") or {}, *manifest.get("layers", [])]:
        if layer.get("digest"):
            cleanup.blob(repo, layer["digest"])
    if digest:
        cleanup.manifest(repo, digest)
    cleanup.tag(repo, TAG)
    return digest


@rule("end-7/end-2", "MUST", "clients", "oras-py push of files as an OCI artifact, then pull: the same files come "
      "back byte for byte and the tag is listed")
def test_oras_push_pull_round_trip(oras, client: RegistryClient, cleanup, target: Target, repo: str,
                                   tmp_path: Path) -> None:
    files = {"notes.txt": MOTD, "payload.bin": builders.random_bytes(80_000)}
    oras_push(oras, client, cleanup, target, repo, tmp_path / "src", files)
    with step("oras-py pull"):
        pulled = oras.pull(target=f"{target.netloc}/{repo}:{TAG}", outdir=str(tmp_path / "out"))
    assert {Path(p).name: Path(p).read_bytes() for p in pulled} == files, "oras-py pulled other files than it pushed"
    with step("oras-py get_tags"):
        tags = oras.get_tags(f"{target.netloc}/{repo}")
    assert TAG in tags, f"oras-py lists the tags {tags}, without {TAG}"


@rule("end-9", "MUST", "clients", "oras-py delete of the tag it pushed removes the manifest (GET by tag answers "
      "404 afterwards)")
def test_oras_delete_tag(oras, client: RegistryClient, cleanup, target: Target, repo: str, tmp_path: Path) -> None:
    digest = oras_push(oras, client, cleanup, target, repo, tmp_path / "src", {"notes.txt": MOTD})
    with deleting(client, repo, digest or TAG, "oras-py delete"), step("oras-py delete_tags"):
        deleted = oras.delete_tags(f"{target.netloc}/{repo}", TAG)
        if deleted != [TAG]:
            raise ClientFailure(f"oras-py delete_tags deleted {deleted}, not [{TAG!r}]")
    gone = client.get_manifest(repo, TAG)
    client.check(gone, 404, "GET by tag after oras-py deleted it (end-9)")
