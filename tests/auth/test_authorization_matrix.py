"""Who may reach which repository, by every path shape: users × repositories × actions, on the wire.

The repositories include names whose components are the API's own words (``team/allowed/blobs/private``,
``carol/app/tags/x``, ``carol/app/manifests/evil``...): the router reads such a path from its end, so
authorization must too. Every case sends the strongest token the user can obtain (all of their
rights at once), so a server that checks the wrong repository cannot hide behind a client that asks
for the right scope. A denial is 401 with a Bearer challenge or 403 DENIED, and carries no data.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from reference_server.auth.passwords import hash_password
from reference_server.launcher import ServerProcess, start_server
from registry_harness.auth import basic_header, parse_challenges
from registry_harness.builders import Manifest, build_image
from registry_harness.client import RegistryClient
from registry_harness.target import parse_target
from tests.auth.conftest import BCRYPT_ROUNDS

# Repositories that exist (pushed by admin before the matrix runs), shaped to confuse a parser
# that stops at the first endpoint word.
REPOSITORIES = (
    "team/allowed",
    "team/allowed/blobs/private",
    "team/allowed/manifests/latest",
    "team/allowed/tags/list",
    "team/allowed/referrers/r",
    "team/allowed/blobs/uploads/u",
    "team/secret",
    "carol/app",
    "carol/app/tags/x",
    "carol/app/manifests/evil",
)

# What each account may do, as the access file below says (admin may do everything).
RIGHTS: dict[str, dict[str, set[str]]] = {
    "anonymous": {},
    "alice": {"team/allowed": {"pull"}},
    "carol": {"carol/app": {"pull", "push"}},
    "dave": {"carol/app/tags/x": {"pull", "push"}},
}
USERS = tuple(RIGHTS)


def access_file_content(passwords: dict[str, str]) -> dict:
    rules = [{"account": "admin", "name": "*", "actions": ["*"]},
             {"account": "admin", "type": "registry", "name": "catalog", "actions": ["*"]}]
    for user, repos in RIGHTS.items():
        if user == "anonymous":
            continue
        rules.append({"account": user, "type": "registry", "name": "catalog", "actions": ["*"]})
        rules += [{"account": user, "name": repo, "actions": sorted(actions)} for repo, actions in repos.items()]
    users = {user: hash_password(secret, BCRYPT_ROUNDS) for user, secret in passwords.items()}
    return {"users": users, "access": rules}


@dataclass
class Registry:
    """The running server, the passwords, and what admin pushed into each repository."""

    server: ServerProcess
    passwords: dict[str, str]
    images: dict[str, Manifest]
    _clients: dict[str, RegistryClient] = field(default_factory=dict)
    _tokens: dict[str, str] = field(default_factory=dict)

    def client(self, user: str = "anonymous") -> RegistryClient:
        """One client per account (so each keeps its tokens); anonymous has no credentials."""
        if user not in self._clients:
            target = parse_target(self.server.host_port, tls="disabled")
            secret = {} if user == "anonymous" else {"username": user, "password": self.passwords[user]}
            self._clients[user] = RegistryClient(target, timeout=10, **secret)
        return self._clients[user]

    def strongest_token(self, user: str) -> str:
        """A token for every action on every repository and the catalog: the server grants the part
        the policy allows, so this holds all of the user's rights at once."""
        if user not in self._tokens:
            client = self.client(user)
            client.ping()
            scope = " ".join([f"repository:{repo}:pull,push,delete" for repo in REPOSITORIES]
                             + ["registry:catalog:*"])
            self._tokens[user] = client.token_for(scope, username="" if user == "anonymous" else user).token.value
        return self._tokens[user]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    passwords = {user: f"{user}-{secrets.token_urlsafe(12)}" for user in ("admin", *USERS[1:])}
    access: Path = tmp_path_factory.mktemp("matrix") / "access.json"
    access.write_text(json.dumps(access_file_content(passwords)))
    with start_server(["--storage", "memory", "--auth", f"token:{access}"]) as server:
        reg = Registry(server, passwords, {})
        admin = reg.client("admin")
        for number, repo in enumerate(REPOSITORIES):
            image = build_image((512,), seed=1000 + number)
            admin.push_image(repo, image, "latest")
            reg.images[repo] = image
        yield reg


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """htpasswd mode: every valid account may do everything, nobody else anything."""
    passwords = {"admin": f"admin-{secrets.token_urlsafe(12)}"}
    htpasswd: Path = tmp_path_factory.mktemp("matrix-basic") / "users.htpasswd"
    htpasswd.write_text(f"admin:{hash_password(passwords['admin'], BCRYPT_ROUNDS)}\n")
    with start_server(["--storage", "memory", "--auth", f"htpasswd:{htpasswd}"]) as server:
        reg = Registry(server, passwords, {})
        admin = reg.client("admin")
        for number, repo in enumerate(REPOSITORIES):
            image = build_image((256,), seed=2000 + number)
            admin.push_image(repo, image, "latest")
            reg.images[repo] = image
        yield reg


# -- the operations, one per action and path shape ------------------------------------------------

Operation = Callable[[Registry, str, dict[str, str]], requests.Response]


def _send(reg: Registry, method: str, path: str, headers: dict[str, str], **kw) -> requests.Response:
    return reg.client().request(method, path, headers=headers, authenticate=False, **kw)


def _admin_upload(reg: Registry, repo: str) -> str:
    """An upload session admin opened in ``repo``: its location is all another user needs to try."""
    admin = reg.client("admin")
    return admin.location(admin.start_upload(repo, expect=202))


def _manifest(repo: str, reference: str = "latest") -> str:
    return f"/v2/{repo}/manifests/{reference}"


def _blob(reg: Registry, repo: str, index: int = 0) -> str:
    return f"/v2/{repo}/blobs/{reg.images[repo].blobs[index].digest}"


OPERATIONS: dict[str, tuple[str, Operation]] = {
    # name: (action needed, what it sends)
    "get-manifest": ("pull", lambda reg, repo, h: _send(
        reg, "GET", _manifest(repo), {**h, "Accept": reg.images[repo].media_type})),
    "head-manifest": ("pull", lambda reg, repo, h: _send(reg, "HEAD", _manifest(repo), h)),
    "get-blob": ("pull", lambda reg, repo, h: _send(reg, "GET", _blob(reg, repo), h)),
    "head-blob": ("pull", lambda reg, repo, h: _send(reg, "HEAD", _blob(reg, repo, 1), h)),
    "tags-list": ("pull", lambda reg, repo, h: _send(reg, "GET", f"/v2/{repo}/tags/list", h)),
    "referrers": ("pull", lambda reg, repo, h: _send(
        reg, "GET", f"/v2/{repo}/referrers/{reg.images[repo].digest}", h)),
    "start-upload": ("push", lambda reg, repo, h: _send(reg, "POST", f"/v2/{repo}/blobs/uploads/", h)),
    "patch-upload": ("push", lambda reg, repo, h: _send(
        reg, "PATCH", _admin_upload(reg, repo), {**h, "Content-Type": "application/octet-stream"}, data=b"intruder")),
    "upload-status": ("push", lambda reg, repo, h: _send(reg, "GET", _admin_upload(reg, repo), h)),
    "cancel-upload": ("push", lambda reg, repo, h: _send(reg, "DELETE", _admin_upload(reg, repo), h)),
    "put-manifest": ("push", lambda reg, repo, h: _send(
        reg, "PUT", _manifest(repo, "pushed"), {**h, "Content-Type": reg.images[repo].media_type},
        data=reg.images[repo].manifest)),
    "delete-manifest": ("delete", lambda reg, repo, h: _send(
        reg, "DELETE", _manifest(repo, reg.images[repo].digest), h)),
    "delete-blob": ("delete", lambda reg, repo, h: _send(reg, "DELETE", _blob(reg, repo), h)),
}
SUCCESS = {"pull": {200}, "push": {200, 201, 202, 204}, "delete": {202}}


def allowed(user: str, repo: str, action: str) -> bool:
    return action in RIGHTS[user].get(repo, set())


def assert_denied_without_data(response: requests.Response, reg: Registry, repo: str, sent_token: bool,
                               basic: bool = False) -> None:
    where = f"{response.request.method} {response.request.path_url}"
    assert response.status_code in (401, 403), f"{where}: expected a denial, got {response.status_code}"
    if response.request.method != "HEAD":
        body = response.json()
        assert set(body) == {"errors"}, f"{where}: a denial must carry only a spec error body, got {body}"
        codes = [error["code"] for error in body["errors"]]
        assert codes == (["DENIED"] if response.status_code == 403 else ["UNAUTHORIZED"]), f"{where}: {codes}"
        for blob in reg.images[repo].blobs:
            assert blob.digest not in response.text, f"{where}: the denial leaks a digest of {repo}"
    assert "Docker-Content-Digest" not in response.headers, f"{where}: the denial names a digest"
    if response.status_code == 401 and basic:
        assert response.headers.get("WWW-Authenticate", "").startswith("Basic realm="), f"{where}: no Basic challenge"
    elif response.status_code == 401:
        (bearer,) = [c for c in parse_challenges(response.headers.get("WWW-Authenticate", "")) if c.scheme == "bearer"]
        assert bearer.realm and bearer.params.get("service"), f"{where}: unusable challenge"
        assert f"repository:{repo}:" in bearer.params.get("scope", ""), f"{where}: challenged for another repository"
        if sent_token:
            assert bearer.params.get("error") == "insufficient_scope", f"{where}: {bearer.params}"


CASES = [(user, repo, op) for user in USERS for repo in REPOSITORIES for op in OPERATIONS]


@pytest.mark.parametrize(("user", "repo", "operation"), CASES, ids=[f"{u}-{o}-{r}" for u, r, o in CASES])
def test_every_user_reaches_exactly_the_repositories_the_policy_names(registry, user, repo, operation):
    action, send = OPERATIONS[operation]
    token = registry.strongest_token(user)
    response = send(registry, repo, {"Authorization": f"Bearer {token}"})
    if allowed(user, repo, action):
        assert response.status_code in SUCCESS[action], (
            f"{user} may {action} {repo}: {operation} answered {response.status_code} {response.text[:200]}")
        if operation == "get-manifest":
            assert response.content == registry.images[repo].manifest
    else:
        assert_denied_without_data(response, registry, repo, sent_token=True)


@pytest.mark.parametrize("operation", ["get-manifest", "start-upload", "delete-manifest"])
@pytest.mark.parametrize("repo", ["team/allowed/blobs/private", "carol/app/manifests/evil"])
def test_requests_without_a_token_are_challenged_for_the_repository_they_name(registry, repo, operation):
    response = OPERATIONS[operation][1](registry, repo, {})
    assert response.status_code == 401
    assert_denied_without_data(response, registry, repo, sent_token=False)


@pytest.mark.parametrize("repo", REPOSITORIES)
@pytest.mark.parametrize("caller", ["anonymous", "wrong-password", "unknown-user"])
def test_htpasswd_mode_lets_nobody_without_valid_credentials_reach_any_shape(basic_registry, repo, caller):
    credentials = {"anonymous": {}, "wrong-password": {"Authorization": basic_header("admin", "not-the-password")},
                   "unknown-user": {"Authorization": basic_header("mallory", basic_registry.passwords["admin"])}}
    for operation, (_action, send) in OPERATIONS.items():
        response = send(basic_registry, repo, credentials[caller])
        assert response.status_code == 401, f"{caller} {operation} {repo}: {response.status_code}"
        assert_denied_without_data(response, basic_registry, repo, sent_token=False, basic=True)


@pytest.mark.parametrize("repo", REPOSITORIES)
def test_htpasswd_mode_lets_a_valid_account_do_everything(basic_registry, repo):
    credentials = {"Authorization": basic_header("admin", basic_registry.passwords["admin"])}
    for operation, (action, send) in OPERATIONS.items():
        if action == "delete":
            continue  # deleting would take the content the other cases read; deletes are the suite's job
        response = send(basic_registry, repo, credentials)
        assert response.status_code in SUCCESS[action], f"{operation} {repo}: {response.status_code}"


def test_the_client_asks_for_the_repository_the_router_will_use(registry):
    """Through the shared client (scope per request from the one path grammar), dave gets exactly
    ``carol/app/tags/x`` and carol never gets it."""
    dave, carol = registry.client("dave"), registry.client("carol")
    image = registry.images["carol/app/tags/x"]
    assert dave.get_manifest("carol/app/tags/x", "latest", expect=200).content == image.manifest
    dave.put_manifest("carol/app/tags/x", "by-dave", image.manifest, image.media_type, expect=201)
    assert carol.get_manifest("carol/app/tags/x", "latest").status_code == 403
    assert carol.put_manifest("carol/app/manifests/evil", "x", image.manifest, image.media_type).status_code == 403
    assert carol.delete_manifest("carol/app/tags/x", image.digest).status_code == 403
    assert registry.client("admin").get_manifest("carol/app/tags/x", image.digest, expect=200).content == image.manifest


def test_a_mount_from_a_repository_the_user_cannot_read_copies_nothing(registry):
    """end-11 under auth: carol may push carol/app but not read team/secret, so a mount from there
    falls back to a plain upload (202) and the blob stays unreadable in carol/app."""
    carol = registry.client("carol")
    secret = registry.images["team/secret"].blobs[0]
    response = carol.mount_blob("carol/app", secret.digest, "team/secret")
    assert response.status_code == 202, f"mount from an unreadable repository: {response.status_code}"
    assert carol.head_blob("carol/app", secret.digest).status_code == 404
    assert registry.client("admin").head_blob("carol/app", secret.digest).status_code == 404


@pytest.mark.parametrize("user", ["admin", *USERS[1:]])
def test_catalog_lists_only_what_the_caller_may_pull(registry, user):
    """Docker's _catalog under token auth: a repository the account cannot pull is not disclosed."""
    client = registry.client(user)
    names = set()
    for page in client.pages(client.catalog(expect=200)):
        names.update(page.json()["repositories"])
    expected = set(REPOSITORIES) if user == "admin" else {r for r in REPOSITORIES if allowed(user, r, "pull")}
    assert names == expected
