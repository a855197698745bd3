"""Real container clients driven against a registry: a Docker engine (through docker-py), skopeo,
podman and oras-py.

Shared by the conformance suite's ``clients`` area and the peer tests, so each client is driven
one way: how it is found (or why it cannot be), its version, how a Target's TLS mode and
credentials become the client's own options (an auth file, never a password on a command line),
and how its failures explain themselves (docker's ``errorDetail`` records, skopeo's and podman's
stderr). Every command is bounded in time.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import importlib
import importlib.metadata
import json
import os
import re
import resource
import shutil
import socket
import struct
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from registry_harness.builders import tar_layer
from registry_harness.target import Target

COMMAND_TIMEOUT = 120.0
REQUEST_TIMEOUT = 60.0  # one HTTP request of a client library (oras-py)
ENGINE_TIMEOUT = 120  # docker-py: seconds one engine API call may take
OUTPUT_TAIL = 2000
BUSYBOX_PATHS = ("/bin/busybox", "/usr/bin/busybox", "/usr/local/bin/busybox")
PODMAN_RUNROOT_LIMIT = 50  # podman refuses longer run roots


class ClientUnavailable(Exception):
    """The client cannot be used here (not installed, no engine, cannot reach the target); one-line reason."""


class ClientFailure(AssertionError):
    """A client's operation failed against the registry; the message says what ran and what it answered."""


def run_command(cmd: list[str], timeout: float = COMMAND_TIMEOUT, env: dict[str, str] | None = None,
                check: bool = True) -> subprocess.CompletedProcess:
    """Run a client command (bounded in time); with ``check``, a non-zero exit raises ClientFailure with
    the command, its exit status and the tails of its output."""
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                                env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired as exc:
        raise ClientFailure(f"{' '.join(cmd)} did not finish within {timeout:.0f}s\n"
                            f"stderr: {_text(exc.stderr)[-OUTPUT_TAIL:]}") from None
    if check and result.returncode != 0:
        raise ClientFailure(f"{' '.join(cmd)} exited with {result.returncode}\n"
                            f"stderr: {result.stderr[-OUTPUT_TAIL:]}\nstdout: {result.stdout[-OUTPUT_TAIL:]}")
    return result


def _text(value: bytes | str | None) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value or ""


@contextlib.contextmanager
def step(what: str) -> Iterator[None]:
    """Turn any exception a client library raises during ``what`` into a ClientFailure naming the step."""
    try:
        yield
    except (ClientFailure, ClientUnavailable):
        raise
    except Exception as exc:  # noqa: BLE001 - a client library may raise anything at a misbehaving registry
        raise ClientFailure(f"{what} failed: {type(exc).__name__}: {exc}") from exc


def tool_version(binary: str) -> str:
    """The version a ``--version`` prints (``skopeo version 1.9.3`` → ``1.9.3``); ClientUnavailable
    with the tool's own first words when it cannot even start."""
    result = run_command([binary, "--version"], timeout=30, check=False)
    if result.returncode != 0:
        said = next((line.strip() for line in result.stderr.splitlines() if line.strip()), "")
        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        where = f" under an address-space limit of {limit // 2**20} MiB" if limit != resource.RLIM_INFINITY else ""
        raise ClientUnavailable(f"{binary} --version exited with {result.returncode}{where}"
                                + (f": {said}" if said else ""))
    output = result.stdout
    match = re.search(r"version\s+(\S+)", output)
    return match.group(1) if match else output.strip()


def require_binary(name: str, package: str | None = None) -> str:
    """The path of ``name``; ClientUnavailable when it is not installed."""
    path = shutil.which(name)
    if path is None:
        raise ClientUnavailable(f"{name} is not installed (apt-get install {package or name})")
    return path


# -- what a client needs to reach the target ----------------------------------------------------

def auth_file(target: Target, folder: Path) -> Path | None:
    """A containers-auth.json (the format skopeo and podman read) with the target's credentials, or None."""
    if not target.username:
        return None
    token = base64.b64encode(f"{target.username}:{target.password or ''}".encode()).decode()
    path = folder / "auth.json"
    path.write_text(json.dumps({"auths": {target.netloc: {"auth": token}}}))
    path.chmod(0o600)
    return path


def cert_dir(target: Target, folder: Path) -> Path | None:
    """A folder holding the target's CA bundle as ``ca.crt`` (skopeo's and podman's --cert-dir), or None."""
    if not target.ca_bundle:
        return None
    path = folder / "certs"
    path.mkdir(exist_ok=True)
    shutil.copyfile(target.ca_bundle, path / "ca.crt")
    return path


def registry_options(target: Target, folder: Path, prefix: str = "") -> list[str]:
    """skopeo/podman options for the target: ``--[src-|dest-]tls-verify``, ``--…cert-dir``, ``--…authfile``.

    ``prefix`` is ``src-`` or ``dest-`` for ``skopeo copy``, empty for the other commands.
    """
    options = [f"--{prefix}tls-verify={'true' if target.tls == 'enabled' else 'false'}"]
    certs = cert_dir(target, folder)
    if certs is not None:
        options.append(f"--{prefix}cert-dir={certs}")
    auth = auth_file(target, folder)
    if auth is not None:
        options.append(f"--{prefix}authfile={auth}")
    return options


# -- images a client can push -------------------------------------------------------------------

def static_busybox() -> str | None:
    """A statically linked busybox on this machine (Debian's busybox-static), or None.

    Static means it runs inside an image that holds nothing else: its ELF header has no
    program interpreter (``PT_INTERP``).
    """
    for path in BUSYBOX_PATHS:
        try:
            with open(path, "rb") as handle:
                header = handle.read(64)
                if header[:5] != b"\x7fELF\x02" or header[5] != 1:  # 64-bit little-endian only
                    continue
                phoff, = struct.unpack_from("<Q", header, 32)
                phentsize, phnum = struct.unpack_from("<HH", header, 54)
                handle.seek(phoff)
                table = handle.read(phentsize * phnum)
        except (OSError, struct.error):
            continue
        types = [struct.unpack_from("<I", table, i * phentsize)[0] for i in range(phnum)]
        if types and 3 not in types:  # 3 = PT_INTERP
            return path
    return None


def rootfs_tar(files: dict[str, bytes], busybox: str | None = None) -> bytes:
    """An uncompressed root filesystem tar of ``files``, plus ``/bin/busybox`` when a static one is given."""
    files = dict(files)
    executables: frozenset[str] = frozenset()
    if busybox:
        files["bin/busybox"] = Path(busybox).read_bytes()
        executables = frozenset({"bin/busybox"})
    return tar_layer(files, compress=False, executables=executables)


# -- the Docker engine --------------------------------------------------------------------------

def stream_errors(events: Iterable[dict]) -> list[str]:
    """Every error a docker-py progress stream carried (a failed push or pull raises nothing)."""
    errors = []
    for event in events:
        if "errorDetail" in event or "error" in event:
            detail = event.get("errorDetail") or {}
            errors.append(str(detail.get("message") if isinstance(detail, dict) and detail.get("message")
                              else event.get("error") or detail))
    return errors


class DockerEngine:
    """A Docker engine reached through docker-py's low-level APIClient (``DOCKER_HOST`` or the default socket)."""

    def __init__(self, api: object, where: str) -> None:
        self.api = api
        self.where = where
        self.version = str(api.version().get("Version", "?"))  # type: ignore[attr-defined]

    @classmethod
    def connect(cls, host: str | None = None) -> DockerEngine:
        """Connect to ``host`` (default ``DOCKER_HOST``, else the default socket); ClientUnavailable if none answers."""
        try:
            docker = importlib.import_module("docker")
        except ImportError:
            raise ClientUnavailable("docker-py is not installed (pip install docker)") from None
        where = host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        try:
            api = docker.APIClient(base_url=where, timeout=ENGINE_TIMEOUT, version="auto")
            api.ping()
            return cls(api, where)
        except Exception as exc:  # noqa: BLE001 - docker-py raises several unrelated types when no engine is there
            first = (str(exc).splitlines() or [""])[0][:200]
            raise ClientUnavailable(f"no Docker engine answers at {where} ({type(exc).__name__}: {first})") from None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.api.close()  # type: ignore[attr-defined]

    def check_reaches(self, target: Target) -> None:
        """ClientUnavailable when this engine cannot reach ``target`` the way the run asks for.

        The engine, not the client, decides about TLS: plain http or unverified https needs the
        registry among its insecure registries (127.0.0.0/8 always is), and a private CA must be
        in ``/etc/docker/certs.d/<host:port>/`` on the engine's machine.
        """
        info = self.api.info()  # type: ignore[attr-defined]
        if target.is_loopback() and info.get("Name") != socket.gethostname():
            raise ClientUnavailable(f"the Docker engine at {self.where} runs on another machine "
                                    f"({info.get('Name')}); it cannot reach the loopback registry {target.netloc}")
        if target.tls != "enabled" and not target.is_loopback() and not self._insecure(info, target.netloc):
            raise ClientUnavailable(f"the Docker engine treats {target.netloc} as a secure registry; add it to "
                                    "insecure-registries in the engine's daemon.json for TLS mode "
                                    f"{target.tls!r}")
        certs = Path("/etc/docker/certs.d") / target.netloc
        if target.tls == "enabled" and target.ca_bundle and not target.is_loopback() and not certs.is_dir() \
                and not self._insecure(info, target.netloc):
            raise ClientUnavailable(f"the Docker engine reads private CAs from {certs}/ca.crt, not from "
                                    f"CA_BUNDLE; put {target.ca_bundle} there")

    @staticmethod
    def _insecure(info: dict, netloc: str) -> bool:
        import ipaddress

        registry = info.get("RegistryConfig") or {}
        index = (registry.get("IndexConfigs") or {}).get(netloc)
        if index is not None:
            return not index.get("Secure", True)
        host = netloc.rsplit(":", 1)[0].strip("[]")
        try:
            address = ipaddress.ip_address(socket.gethostbyname(host))
        except (OSError, ValueError):
            return False
        return any(address in ipaddress.ip_network(cidr, strict=False)
                   for cidr in registry.get("InsecureRegistryCIDRs") or [])

    @staticmethod
    def auth(target: Target) -> dict[str, str] | None:
        """docker-py's ``auth_config`` for the target's credentials (sent to the engine, never on a command line)."""
        if not target.username:
            return None
        return {"username": target.username, "password": target.password or ""}

    def import_tar(self, data: bytes, repository: str, tag: str, changes: list[str] | None = None) -> str:
        """``docker import`` of a root filesystem tar as ``repository:tag``; the new image's id."""
        with step(f"docker import as {repository}:{tag}"):
            answer = self.api.import_image_from_data(data, repository=repository, tag=tag,  # type: ignore[attr-defined]
                                                     changes=changes)
        image_id = json.loads(answer.strip().splitlines()[-1]).get("status", "") if answer else ""
        if not image_id.startswith("sha256:"):
            raise ClientFailure(f"docker import answered {answer!r}")
        return image_id

    def tag(self, source: str, repository: str, tag: str) -> None:
        with step(f"docker tag {source} {repository}:{tag}"):
            if not self.api.tag(source, repository, tag):  # type: ignore[attr-defined]
                raise ClientFailure(f"docker tag {source} {repository}:{tag} was refused")

    def push(self, repository: str, tag: str, target: Target) -> str:
        """``docker push repository:tag``; the manifest digest the engine reports. Errors in the stream raise."""
        with step(f"docker push {repository}:{tag}"):
            events = list(self.api.push(repository, tag=tag, stream=True, decode=True,  # type: ignore[attr-defined]
                                        auth_config=self.auth(target)))
        errors = stream_errors(events)
        if errors:
            raise ClientFailure(f"docker push {repository}:{tag} failed (engine {self.version}): "
                                + "; ".join(errors))
        digests = [e["aux"]["Digest"] for e in events if isinstance(e.get("aux"), dict) and "Digest" in e["aux"]]
        if not digests:
            raise ClientFailure(f"docker push {repository}:{tag} reported no digest: {events[-3:]}")
        return digests[-1]

    def pull(self, repository: str, reference: str, target: Target) -> None:
        """``docker pull repository:tag`` (or ``@digest``); errors in the stream raise ClientFailure."""
        shown = f"{repository}{'@' if reference.startswith('sha256:') else ':'}{reference}"
        with step(f"docker pull {shown}"):
            events = list(self.api.pull(repository, tag=reference, stream=True, decode=True,  # type: ignore[attr-defined]
                                        auth_config=self.auth(target)))
        errors = stream_errors(events)
        if errors:
            raise ClientFailure(f"docker pull {shown} failed (engine {self.version}): " + "; ".join(errors))

    def inspect(self, ref: str) -> dict:
        with step(f"docker image inspect {ref}"):
            return self.api.inspect_image(ref)  # type: ignore[attr-defined]

    def remove(self, *refs: str) -> None:
        """``docker rmi --force`` of each reference that exists (local images only)."""
        for ref in refs:
            with contextlib.suppress(Exception):
                self.api.remove_image(ref, force=True)  # type: ignore[attr-defined]

    def run(self, image: str, command: list[str], timeout: float = 60) -> tuple[int, str]:
        """``docker run --rm --network none image command``: (exit status, output)."""
        with step(f"docker run --network none {image} {' '.join(command)}"):
            host_config = self.api.create_host_config(network_mode="none")  # type: ignore[attr-defined]
            container = self.api.create_container(image, command, host_config=host_config)  # type: ignore[attr-defined]
            try:
                self.api.start(container)  # type: ignore[attr-defined]
                status = self.api.wait(container, timeout=timeout)  # type: ignore[attr-defined]
                output = self.api.logs(container).decode(errors="replace")  # type: ignore[attr-defined]
            finally:
                with contextlib.suppress(Exception):
                    self.api.remove_container(container, force=True)  # type: ignore[attr-defined]
        return int(status.get("StatusCode", -1)), output


# -- podman, skopeo, oras-py --------------------------------------------------------------------

class Podman:
    """podman with storage of its own (vfs driver, no daemon): it never touches the machine's images."""

    def __init__(self, folder: Path, binary: str | None = None) -> None:
        self.binary = binary or require_binary("podman")
        self.folder = folder
        self._runroot = tempfile.mkdtemp(prefix="podman-run-")
        if len(self._runroot) > PODMAN_RUNROOT_LIMIT:
            os.rmdir(self._runroot)
            self._runroot = tempfile.mkdtemp(prefix="pr-", dir="/tmp")
        self.base = [self.binary, "--storage-driver", "vfs", "--root", str(folder / "storage"),
                     "--runroot", self._runroot, "--tmpdir", str(folder / "tmp"),
                     "--cgroup-manager", "cgroupfs", "--events-backend", "file"]

    def __call__(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> str:
        """Run ``podman ARGS`` on this storage; stdout (a failure raises ClientFailure with stderr)."""
        return run_command([*self.base, *args], timeout=timeout).stdout

    def image_id(self, ref: str) -> str:
        return self("image", "inspect", "--format", "{{.Id}}", ref).strip()

    def close(self) -> None:
        shutil.rmtree(self._runroot, ignore_errors=True)


@contextlib.contextmanager
def podman_session(folder: str | os.PathLike | None = None) -> Iterator[Podman]:
    """A Podman on storage under ``folder`` (a new temporary folder when None), removed afterwards."""
    owned = folder is None
    path = Path(tempfile.mkdtemp(prefix="rh-podman-") if owned else folder)  # type: ignore[arg-type]
    podman = Podman(path)
    try:
        yield podman
    finally:
        podman.close()
        if owned:
            shutil.rmtree(path, ignore_errors=True)


def oras_version() -> str:
    """oras-py's version; ClientUnavailable when it is not installed."""
    try:
        importlib.import_module("oras.client")
        return importlib.metadata.version("oras")
    except (ImportError, importlib.metadata.PackageNotFoundError):
        raise ClientUnavailable("oras-py is not installed (pip install oras)") from None


def oras_client(target: Target, timeout: float = REQUEST_TIMEOUT) -> object:
    """An oras-py client for ``target``: http when TLS is disabled, the CA bundle or no verification
    as the TLS mode says, the target's credentials as basic auth, and ``timeout`` for each request."""
    module = importlib.import_module("oras.client")
    verify: bool | str = False if target.tls == "insecure" else (target.ca_bundle or True)
    backend = "basic" if _challenge_scheme(target, verify, timeout) == "basic" else "token"
    client = module.OrasClient(hostname=target.netloc, insecure=target.tls == "disabled", tls_verify=verify,
                               auth_backend=backend)
    # oras-py sets no timeout of its own: every request it sends is bounded here
    client.session.request = functools.partial(client.session.request, timeout=timeout)
    if target.username:
        client.auth.set_basic_auth(target.username, target.password or "")
        if backend == "token":
            _renew_token_on_401(client.auth)
    return client


def _challenge_scheme(target: Target, verify: bool | str, timeout: float) -> str:
    """The auth scheme the target's ``/v2/`` challenges with (``basic``, ``bearer``), or "" when it does not.

    oras-py must be told: its token backend takes a Basic realm for a token server's address.
    """
    import requests

    try:
        # headers only: the body is never read (a hostile one could be endless)
        with requests.get(f"{target.base_url}/v2/", verify=verify, timeout=timeout, stream=True) as response:
            pass
    except requests.RequestException:
        return ""
    challenge = response.headers.get("WWW-Authenticate", "") if response.status_code == 401 else ""
    return challenge.split(" ", 1)[0].strip().lower()


def _renew_token_on_401(backend: object) -> None:
    """oras-py 0.2 keeps its first bearer token for every later request and renews it only on a 403, so a
    push after a pull-scoped token is refused. A 401 means the token held is not enough: ask for a new one
    for the scope the challenge names, as docker, skopeo and podman do."""
    original = backend.authenticate_request  # type: ignore[attr-defined]

    def authenticate_request(response: object, headers: dict, refresh: bool = False) -> object:
        return original(response, headers, refresh=refresh or getattr(response, "status_code", None) == 401)

    backend.authenticate_request = authenticate_request  # type: ignore[attr-defined]
