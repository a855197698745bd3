"""The base image the project's Dockerfile builds from where no image may be pulled: a minimal Debian
(``debootstrap --variant=minbase``) with python3 and python3-venv, made on this machine.

The root filesystem tarball is cached outside the clone (``/var/cache/registry-harness/``, else
``~/.cache/registry-harness/``) under a key made of its inputs (suite, architecture, packages, mirror,
the host's CA bundle, this recipe's version), so it is made once per machine (about two minutes) and
a later build only imports it (seconds). The host's CA bundle goes into the image and ``PIP_CERT``
points at it: pip inside ``docker build --network host`` then trusts what the host trusts.

``python -m registry_harness.baseimage`` prints the tarball's path (making it when missing);
``--import`` also imports it into the engine at ``DOCKER_HOST`` and prints the image name, the value
of the Dockerfile's ``BASE_IMAGE`` build argument.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from registry_harness.engine import unmount_all

RECIPE = 1  # bump when the recipe below changes: the cache key changes with it
VARIANT = "minbase"
PACKAGES = ("python3", "python3-venv", "ca-certificates")
CACHE_DIRS = (Path("/var/cache/registry-harness"), Path.home() / ".cache" / "registry-harness")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
IMAGE = "registry-harness-base"
DEBOOTSTRAP_TIMEOUT = 1200.0
ATTEMPTS = 2
TAR_TIMEOUT = 300.0
IMPORT_CHANGES = ["ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt", "ENV LANG=C.UTF-8", 'CMD ["python3"]']


class BaseImageError(RuntimeError):
    """The base image could not be made (not root, debootstrap missing or failing); one clear message."""


def host_suite() -> str:
    """The Debian release this machine runs (``VERSION_CODENAME``), the suite the base image is made of."""
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        text = ""
    match = re.search(r"^VERSION_CODENAME=\"?([a-z]+)", text, re.MULTILINE)
    return match.group(1) if match else "bookworm"


def host_mirror(suite: str, sources: Path = Path("/etc/apt")) -> str | None:
    """The first archive URI the host's own apt sources use for ``suite`` (deb822 or one-line format), or
    None to let debootstrap pick its default: the base image comes from where this machine's packages do."""
    candidates = sorted((sources / "sources.list.d").glob("*.sources")) + [sources / "sources.list"]
    for path in candidates:
        try:
            text = path.read_text()
        except OSError:
            continue
        for stanza in re.split(r"\n\s*\n", text):
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.MULTILINE)
            suites = re.search(r"^Suites:\s*(.+)$", stanza, re.MULTILINE)
            if uris and suites and suite in suites.group(1).split():
                return uris.group(1)
        for line in text.splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[0] == "deb" and not fields[1].startswith("["):
                if fields[2] == suite:
                    return fields[1]
    return None


def _file_digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def cache_key(suite: str, mirror: str | None) -> str:
    """A short hash of everything the tarball is made of."""
    inputs = {"recipe": RECIPE, "suite": suite, "variant": VARIANT, "packages": PACKAGES, "mirror": mirror,
              "arch": platform.machine(), "ca": _file_digest(HOST_CA_BUNDLE)}
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def cache_dir() -> Path:
    """The first cache folder this user can write (made when missing)."""
    for folder in CACHE_DIRS:
        with contextlib.suppress(OSError):
            folder.mkdir(parents=True, exist_ok=True)
            if os.access(folder, os.W_OK):
                return folder
    raise BaseImageError(f"no writable cache folder among {', '.join(map(str, CACHE_DIRS))}")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path``: two test processes never make the same tarball at once."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(cmd: list[str], timeout: float, what: str) -> None:
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise BaseImageError(f"{what} did not finish within {timeout:.0f}s") from None
    if result.returncode != 0:
        raise BaseImageError(f"{what} failed with {result.returncode}:\n{(result.stdout + result.stderr)[-3000:]}")


def base_tarball(suite: str | None = None, mirror: str | None = None) -> Path:
    """The cached root filesystem tarball, made first when missing (root and debootstrap needed then)."""
    suite = suite or host_suite()
    mirror = mirror or host_mirror(suite)
    key = cache_key(suite, mirror)
    folder = cache_dir()
    tarball = folder / f"{IMAGE}-{suite}-{key}.tar"
    if tarball.exists():
        return tarball
    with _locked(folder / ".lock"):
        if tarball.exists():  # made by another process while this one waited
            return tarball
        _make(tarball, suite, mirror)
    return tarball


def _make(tarball: Path, suite: str, mirror: str | None) -> None:
    if os.geteuid() != 0:
        raise BaseImageError("making the base image needs root (debootstrap); or pass BASE_IMAGE=python:3.11-slim")
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not os.access(debootstrap, os.X_OK):
        raise BaseImageError("debootstrap is not installed (apt-get install debootstrap)")
    work = tarball.with_name(f".build-{tarball.stem}-{os.getpid()}")
    root = work / "root"
    try:
        work.mkdir(parents=True)
        command = [debootstrap, f"--variant={VARIANT}", f"--include={','.join(PACKAGES)}", suite, str(root),
                   *([mirror] if mirror else [])]
        for attempt in range(1, ATTEMPTS + 1):  # a download that breaks off is worth one more try
            try:
                _run(command, DEBOOTSTRAP_TIMEOUT, "debootstrap")
                break
            except BaseImageError:
                unmount_all(root)
                shutil.rmtree(root, ignore_errors=True)
                if attempt == ATTEMPTS:
                    raise
        if HOST_CA_BUNDLE.exists():  # what the host trusts (a local CA included), for pip inside builds
            shutil.copyfile(HOST_CA_BUNDLE, root / "etc/ssl/certs/ca-certificates.crt")
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists", "var/log"):
            for entry in (root / leftover).glob("*"):
                if entry.is_file():
                    entry.unlink()
        unmount_all(root)  # debootstrap mounts proc and sys inside the root while it works
        _run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(work / "base.tar"), "."], TAR_TIMEOUT, "tar")
        os.replace(work / "base.tar", tarball)
    finally:
        unmount_all(work)
        shutil.rmtree(work, ignore_errors=True)


def import_base(api: object, tarball: Path) -> str:
    """``docker import`` the tarball into the engine behind docker-py's ``api`` (once); the image name."""
    name = f"{IMAGE}:{tarball.stem.rsplit('-', 1)[-1]}"
    with contextlib.suppress(Exception):
        api.inspect_image(name)  # type: ignore[attr-defined]
        return name
    repository, tag = name.split(":")
    answer = api.import_image(src=str(tarball), repository=repository, tag=tag,  # type: ignore[attr-defined]
                              changes=IMPORT_CHANGES)
    if "error" in str(answer).lower():
        raise BaseImageError(f"docker import of {tarball} answered {answer}")
    return name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m registry_harness.baseimage",
                                     description="Make (once) the local Debian base image of the Dockerfile.")
    parser.add_argument("--import", dest="do_import", action="store_true",
                        help="also import it into the engine at DOCKER_HOST and print the image name")
    options = parser.parse_args(argv)
    try:
        tarball = base_tarball()
        if not options.do_import:
            print(tarball)
            return 0
        from registry_harness.clients import ClientUnavailable, DockerEngine

        try:
            engine = DockerEngine.connect()
        except ClientUnavailable as exc:
            raise BaseImageError(str(exc)) from None
        print(import_base(engine.api, tarball))
        return 0
    except BaseImageError as exc:
        print(f"registry_harness.baseimage: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
