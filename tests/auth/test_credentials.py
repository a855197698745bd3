"""Credentials from the files container tools keep: Docker's config.json (auths, base64 auth,
identity tokens, credential helpers on PATH) and the containers auth.json (REGISTRY_AUTH_FILE), read
by the target configuration the suite and the load tool share, and never shown."""

from __future__ import annotations

import base64
import json
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from registry_harness.client import RegistryClient
from registry_harness.credentials import Credentials, CredentialsError, lookup
from registry_harness.target import TargetError, target_from_env

HOST = "127.0.0.1:5999"


def write_config(directory: Path, data: dict, name: str = "config.json") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(json.dumps(data))
    return path


def basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def helper_on_path(tmp_path: Path, name: str, answers: dict[str, dict]) -> dict[str, str]:
    """A ``docker-credential-<name>`` script answering ``get`` for the hosts in ``answers``; the env to use it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / f"docker-credential-{name}"
    script.write_text(
        "#!/usr/bin/env python3\nimport json, sys\n"
        f"answers = {json.dumps(answers)!r}\n"
        "answers = json.loads(answers)\nhost = sys.stdin.read().strip()\n"
        "if sys.argv[1:] != ['get'] or host not in answers:\n"
        "    print('credentials not found in native keychain'); sys.exit(1)\n"
        "print(json.dumps(answers[host]))\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}


def test_base64_auth_from_docker_config(tmp_path):
    write_config(tmp_path / "docker", {"auths": {f"https://{HOST}/v1/": {"auth": basic("alice", "s3cret:x")}}})
    found = lookup(HOST, {"DOCKER_CONFIG": str(tmp_path / "docker")})
    assert (found.username, found.password, found.identity_token) == ("alice", "s3cret:x", None)
    assert "s3cret" not in repr(found) and found.source.endswith("config.json")


def test_identity_token_from_docker_config(tmp_path):
    write_config(tmp_path / ".docker", {"auths": {HOST: {"auth": basic("bob", ""), "identitytoken": "refresh-1"}}})
    found = lookup(HOST, {"HOME": str(tmp_path)})
    assert found.username == "bob" and found.identity_token == "refresh-1"
    assert "refresh-1" not in repr(found)


def test_registry_auth_file_comes_before_docker_config(tmp_path):
    auth_json = write_config(tmp_path / "containers", {"auths": {HOST: {"auth": basic("podman-user", "p")}}},
                             "auth.json")
    write_config(tmp_path / "docker", {"auths": {HOST: {"auth": basic("docker-user", "d")}}})
    env = {"REGISTRY_AUTH_FILE": str(auth_json), "DOCKER_CONFIG": str(tmp_path / "docker")}
    assert lookup(HOST, env).username == "podman-user"
    assert lookup("127.0.0.1:6000", env) is None  # no entry for another port


def test_credential_helper_for_the_host_and_the_default_store(tmp_path):
    env = helper_on_path(tmp_path, "fake", {HOST: {"Username": "carol", "Secret": "from-helper"},
                                            "127.0.0.1:6001": {"Username": "<token>", "Secret": "idtoken"}})
    write_config(tmp_path / "docker", {"credHelpers": {HOST: "fake"}, "credsStore": "fake"})
    env["DOCKER_CONFIG"] = str(tmp_path / "docker")
    assert lookup(HOST, env) == Credentials("carol", "from-helper", None, "docker-credential-fake")
    by_store = lookup("127.0.0.1:6001", env)  # no credHelpers entry: the default store answers
    assert by_store.identity_token == "idtoken" and by_store.username is None
    assert lookup("127.0.0.1:6002", env) is None  # the helper knows nothing: no credentials


def test_helper_missing_from_path_is_one_clear_error(tmp_path):
    write_config(tmp_path / "docker", {"credHelpers": {HOST: "absent"}})
    with pytest.raises(TargetError, match="docker-credential-absent is not on PATH"):
        target_from_env({"DOCKER_CONFIG": str(tmp_path / "docker"), "PATH": str(tmp_path), "TARGET": HOST})


def test_malformed_auth_entry_is_reported_without_its_value(tmp_path):
    write_config(tmp_path / "docker", {"auths": {HOST: {"auth": "bm90LWJhc2U2NC1wYWlyX3NlY3JldA=="}}})
    with pytest.raises(CredentialsError) as caught:
        lookup(HOST, {"DOCKER_CONFIG": str(tmp_path / "docker")})
    assert "not base64 'user:password'" in str(caught.value) and "bm90" not in str(caught.value)


def test_target_config_uses_stored_credentials_unless_given(tmp_path):
    write_config(tmp_path / "docker", {"auths": {HOST: {"auth": basic("alice", "stored-secret")}}})
    env = {"DOCKER_CONFIG": str(tmp_path / "docker"), "TARGET": HOST}
    target = target_from_env(env)
    assert (target.username, target.password) == ("alice", "stored-secret")
    assert "stored-secret" not in repr(target) and target.redacted()["password"] == "***"
    explicit = target_from_env({**env, "OCI_USERNAME": "bob", "OCI_PASSWORD": "given"})
    assert (explicit.username, explicit.password) == ("bob", "given")


def test_identity_token_pulls_through_the_refresh_grant(token_server, pki, users, tmp_path):
    """docker login's stored identity token is all the client needs: it asks tokens by OAuth2 POST."""
    realm = f"{token_server.url}/auth/token"
    form = {"grant_type": "password", "username": "alice", "password": users.alice, "access_type": "offline",
            "service": "reference-registry", "client_id": "tests"}
    refresh = requests.post(realm, data=form, verify=str(pki.ca_cert), timeout=30).json()["refresh_token"]
    netloc = token_server.url.split("://", 1)[1]
    write_config(tmp_path / "docker", {"auths": {netloc: {"auth": basic("alice", ""), "identitytoken": refresh}}})
    target = target_from_env({"DOCKER_CONFIG": str(tmp_path / "docker"), "TARGET": token_server.url,
                              "OCI_CA_BUNDLE": str(pki.ca_cert)})
    seen = []
    client = RegistryClient(target, recorder=seen.append)
    client.push_blob("team/identity", b"pushed with an identity token")
    token_requests = [e for e in seen if "/auth/token" in e.url]
    assert token_requests and all(e.method == "POST" for e in token_requests)
    assert all(e.request_body is None for e in token_requests)  # the form holds the secret: never recorded
    assert refresh not in json.dumps([e.to_dict(client.secrets) for e in seen])
    forged = RegistryClient(replace(target, identity_token=refresh[:-3] + "xyz"))
    assert forged.head_blob("team/identity", "sha256:" + "0" * 64).status_code == 401
