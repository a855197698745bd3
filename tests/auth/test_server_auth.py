"""The reference server's auth modes, seen on the wire: htpasswd (Basic), token (Bearer) and TLS."""

from __future__ import annotations

import base64
import json
import time

import pytest
import requests

from reference_server.auth.passwords import hash_password
from reference_server.launcher import ServerStartError, start_server
from registry_harness.auth import basic_header, parse_challenges
from registry_harness.builders import build_image
from registry_harness.digests import digest_of

TIMEOUT = 10


def get(url: str, pki, **kw) -> requests.Response:
    return requests.get(url, verify=str(pki.ca_cert), timeout=TIMEOUT, **kw)


def codes(response: requests.Response) -> list[str]:
    return [e["code"] for e in response.json()["errors"]]


def token(server, pki, scopes: list[str], auth: tuple[str, str] | None = None, service="reference-registry"):
    params = [("service", service)] + [("scope", s) for s in scopes]
    headers = {"Authorization": basic_header(*auth)} if auth else {}
    return get(f"{server.url}/auth/token", pki, params=params, headers=headers)


def claims(jwt: str) -> dict:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


# -- htpasswd ------------------------------------------------------------------------------------

def test_htpasswd_challenges_until_the_right_password_comes(htpasswd_server, pki, users):
    url = f"{htpasswd_server.url}/v2/"
    anonymous = get(url, pki)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == 'Basic realm="reference-registry"'
    assert codes(anonymous) == ["UNAUTHORIZED"]
    assert anonymous.headers["Docker-Distribution-API-Version"] == "registry/2.0"

    wrong = get(url, pki, headers={"Authorization": basic_header("alice", users.alice + "x")})
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"].startswith("Basic ")
    unknown = get(url, pki, headers={"Authorization": basic_header("mallory", users.alice)})
    assert unknown.status_code == 401

    right = get(url, pki, headers={"Authorization": basic_header("alice", users.alice)})
    assert right.status_code == 200


def test_htpasswd_guards_repository_endpoints_and_head(htpasswd_server, pki, users):
    digest = digest_of(b"nothing")
    head = requests.head(f"{htpasswd_server.url}/v2/team/app/blobs/{digest}", verify=str(pki.ca_cert),
                         timeout=TIMEOUT)
    assert head.status_code == 401 and head.content == b""
    assert head.headers["WWW-Authenticate"].startswith("Basic realm=")
    headers = {"Authorization": basic_header("bob", users.bob)}
    assert get(f"{htpasswd_server.url}/v2/team/never-pushed/tags/list", pki, headers=headers).status_code == 404


def test_htpasswd_file_with_other_hashes_refuses_to_start(tmp_path):
    path = tmp_path / "md5.htpasswd"
    path.write_text("carol:$apr1$abcdefgh$0123456789abcdefghijkl\n")
    with pytest.raises(ServerStartError, match="only bcrypt entries"):
        start_server(["--storage", "memory", "--auth", f"htpasswd:{path}"])


def test_access_file_with_plain_password_refuses_to_start(tmp_path):
    path = tmp_path / "access.json"
    path.write_text(json.dumps({"users": {"carol": "plain"}, "access": []}))
    with pytest.raises(ServerStartError, match="bcrypt"):
        start_server(["--storage", "memory", "--auth", f"token:{path}"])


# -- token mode ----------------------------------------------------------------------------------

def test_token_mode_challenge_names_realm_service_and_scope(token_server, pki):
    ping = get(f"{token_server.url}/v2/", pki)
    assert ping.status_code == 401
    assert ping.headers["WWW-Authenticate"] == (
        f'Bearer realm="{token_server.url}/auth/token",service="reference-registry"')
    pull = get(f"{token_server.url}/v2/team/app/manifests/latest", pki)
    assert pull.status_code == 401
    assert pull.headers["WWW-Authenticate"].endswith(',scope="repository:team/app:pull"')
    push = requests.post(f"{token_server.url}/v2/team/app/blobs/uploads/", verify=str(pki.ca_cert), timeout=TIMEOUT)
    assert 'scope="repository:team/app:pull,push"' in push.headers["WWW-Authenticate"]
    delete = requests.delete(f"{token_server.url}/v2/team/app/manifests/{digest_of(b'x')}",
                             verify=str(pki.ca_cert), timeout=TIMEOUT)
    assert 'scope="repository:team/app:delete"' in delete.headers["WWW-Authenticate"]
    catalog = get(f"{token_server.url}/v2/_catalog", pki)
    assert 'scope="registry:catalog:*"' in catalog.headers["WWW-Authenticate"]


def test_token_endpoint_answers_the_documented_fields(token_server, pki, users):
    response = token(token_server, pki, ["repository:team/app:pull,push"], ("alice", users.alice))
    assert response.status_code == 200
    body = response.json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 300
    assert body["issued_at"].endswith("Z") and len(body["issued_at"]) == 20
    assert response.headers["Cache-Control"] == "no-store"
    content = claims(body["token"])
    assert content["sub"] == "alice" and content["aud"] == "reference-registry"
    assert content["access"] == [{"type": "repository", "name": "team/app", "actions": ["pull", "push"]}]


def test_token_grants_only_what_the_policy_allows(token_server, pki, users):
    asked = ["repository:team/app:pull,push repository:bob/tools:push", "repository:forbidden/x:pull"]
    body = token(token_server, pki, asked, ("bob", users.bob)).json()
    assert claims(body["token"])["access"] == [
        {"type": "repository", "name": "team/app", "actions": ["pull"]},
        {"type": "repository", "name": "bob/tools", "actions": ["push"]},
    ]
    anonymous = token(token_server, pki, ["repository:public/base:pull,push", "repository:team/app:pull"]).json()
    assert claims(anonymous["token"])["sub"] == ""
    assert claims(anonymous["token"])["access"] == [
        {"type": "repository", "name": "public/base", "actions": ["pull"]}]


def test_token_endpoint_refuses_wrong_password_and_unknown_service(token_server, pki, users):
    wrong = token(token_server, pki, ["repository:team/app:pull"], ("alice", users.bob))
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert "token" not in wrong.json()
    other = token(token_server, pki, [], ("alice", users.alice), service="another-registry")
    assert other.status_code == 400


def test_oauth2_password_grant(token_server, pki, users):
    form = {"grant_type": "password", "username": "alice", "password": users.alice,
            "service": "reference-registry", "scope": "repository:team/never-pushed:pull", "client_id": "tests"}
    response = requests.post(f"{token_server.url}/auth/token", data=form, verify=str(pki.ca_cert), timeout=TIMEOUT)
    assert response.status_code == 200
    body = response.json()
    assert body["scope"] == "repository:team/never-pushed:pull" and body["token_type"] == "Bearer"
    ping = get(f"{token_server.url}/v2/team/never-pushed/tags/list", pki, headers=bearer(body["access_token"]))
    assert ping.status_code == 404  # authorised; the repository is empty
    bad = requests.post(f"{token_server.url}/auth/token", data={**form, "password": "nope"},
                        verify=str(pki.ca_cert), timeout=TIMEOUT)
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_grant"


def test_pull_token_cannot_push_and_gets_insufficient_scope(token_server, pki, users):
    pull_only = token(token_server, pki, ["repository:team/app:pull"], ("alice", users.alice)).json()["token"]
    response = requests.post(f"{token_server.url}/v2/team/app/blobs/uploads/", headers=bearer(pull_only),
                             verify=str(pki.ca_cert), timeout=TIMEOUT)
    assert response.status_code == 401
    assert codes(response) == ["UNAUTHORIZED"]
    challenge = parse_challenges(response.headers["WWW-Authenticate"])[0]
    assert challenge.params["error"] == "insufficient_scope"
    assert challenge.params["scope"] == "repository:team/app:pull,push"


def test_authenticated_but_not_allowed_is_403_denied(token_server, pki, users):
    bob = token(token_server, pki, ["repository:forbidden/x:pull,push"], ("bob", users.bob)).json()["token"]
    response = requests.post(f"{token_server.url}/v2/forbidden/x/blobs/uploads/", headers=bearer(bob),
                             verify=str(pki.ca_cert), timeout=TIMEOUT)
    assert response.status_code == 403
    assert codes(response) == ["DENIED"]
    anonymous = token(token_server, pki, ["repository:team/app:pull"]).json()["token"]
    refused = get(f"{token_server.url}/v2/team/app/tags/list", pki, headers=bearer(anonymous))
    assert refused.status_code == 401  # not signed in: logging in may help, so 401 and not 403


def test_tampered_and_foreign_tokens_are_invalid(token_server, short_token_server, pki, users):
    good = token(token_server, pki, ["repository:team/app:pull"], ("alice", users.alice)).json()["token"]
    header, payload, signature = good.split(".")
    widened = claims(good)
    widened["access"][0]["actions"] = ["pull", "push"]
    forged_payload = base64.urlsafe_b64encode(json.dumps(widened).encode()).rstrip(b"=").decode()
    for candidate in (f"{header}.{forged_payload}.{signature}", "not-a-jwt", good[:-4] + "AAAA"):
        response = get(f"{token_server.url}/v2/team/app/tags/list", pki, headers=bearer(candidate))
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    # A token of another server (another signing key) is not accepted either.
    foreign = token(short_token_server, pki, ["repository:team/app:pull"], ("alice", users.alice)).json()["token"]
    assert get(f"{token_server.url}/v2/team/app/tags/list", pki, headers=bearer(foreign)).status_code == 401


def test_token_expires_after_ttl(short_token_server, pki, users):
    body = token(short_token_server, pki, ["repository:team/app:pull"], ("alice", users.alice)).json()
    assert body["expires_in"] == 2
    url = f"{short_token_server.url}/v2/team/app/tags/list"
    assert get(url, pki, headers=bearer(body["token"])).status_code == 404
    time.sleep(2.2)
    expired = get(url, pki, headers=bearer(body["token"]))
    assert expired.status_code == 401
    assert 'error="invalid_token"' in expired.headers["WWW-Authenticate"]


def test_mount_needs_read_access_to_the_source(token_server, pki, users, client_for):
    image = build_image((300,))
    client_for(token_server, "bob").push_image("bob/tools", image, "v1")
    layer = image.blobs[-1].digest
    alice = client_for(token_server, "alice")
    # alice may not read bob/tools: the mount is not done, an ordinary upload starts instead
    refused = alice.mount_blob("team/copy", layer, "bob/tools")
    assert refused.status_code == 202
    alice.request("DELETE", alice.location(refused), expect=204)
    # bob may read team/* and push bob/*: a mount from a repository he can read succeeds
    alice.push_image("team/mount-source", image, "v1")
    bob = client_for(token_server, "bob")
    mounted = bob.mount_blob("bob/copy", layer, "team/mount-source")
    assert mounted.status_code == 201
    assert bob.head_blob("bob/copy", layer).status_code == 200


def test_mount_without_from_never_links_a_blob_the_client_cannot_read(token_server, pki, users, client_for):
    image = build_image((301,))
    client_for(token_server, "bob").push_image("bob/secret", image, "v1")
    layer = image.blobs[-1].digest
    alice = client_for(token_server, "alice")
    # alice knows the digest but may not read bob/secret: without ``from`` nothing is mounted
    fallback = alice.mount_blob("team/guess", layer)
    assert fallback.status_code == 202
    alice.request("DELETE", alice.location(fallback), expect=204)
    assert alice.head_blob("team/guess", layer).status_code == 404


def test_open_token_mode_grants_everyone_everything(pki):
    with start_server(["--storage", "memory", "--auth", "token", "--tls-cert", str(pki.server_cert),
                       "--tls-key", str(pki.server_key)]) as server:
        assert get(f"{server.url}/v2/", pki).status_code == 401
        body = token(server, pki, ["repository:any/thing:pull,push,delete", "registry:catalog:*"]).json()
        assert claims(body["token"])["access"] == [
            {"type": "repository", "name": "any/thing", "actions": ["delete", "pull", "push"]},
            {"type": "registry", "name": "catalog", "actions": ["*"]},
        ]
        assert get(f"{server.url}/v2/_catalog", pki, headers=bearer(body["token"])).status_code == 200


def test_yaml_access_file(tmp_path, pki):
    yaml = pytest.importorskip("yaml")
    path = tmp_path / "access.yaml"
    path.write_text(yaml.safe_dump({
        "users": {"dora": {"password": hash_password("dora-pw", 4)}},
        "access": [{"account": "dora", "name": "dora/*", "actions": "pull,push"}],
    }))
    with start_server(["--storage", "memory", "--auth", f"token:{path}", "--tls-cert", str(pki.server_cert),
                       "--tls-key", str(pki.server_key)]) as server:
        body = token(server, pki, ["repository:dora/x:pull,push"], ("dora", "dora-pw")).json()
        assert claims(body["token"])["access"][0]["actions"] == ["pull", "push"]


# -- TLS -----------------------------------------------------------------------------------------

def test_tls_server_speaks_only_https(token_server, pki):
    assert token_server.url.startswith("https://127.0.0.1:")
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{token_server.url}/v2/", timeout=TIMEOUT)  # the system trust store does not know our CA
    plain = token_server.url.replace("https://", "http://")
    try:
        response = requests.get(f"{plain}/v2/", timeout=TIMEOUT)
    except requests.exceptions.ConnectionError:
        return  # the TLS listener dropped the plain-text request
    assert response.status_code == 400


def test_invalid_names_get_name_invalid_not_an_auth_answer(token_server, pki, users):
    alice = token(token_server, pki, ["repository:team/app:pull"], ("alice", users.alice)).json()["token"]
    for headers in ({}, bearer(alice)):
        response = get(f"{token_server.url}/v2/Bad_Name--x/tags/list", pki, headers=headers)
        assert response.status_code == 400 and codes(response) == ["NAME_INVALID"]


def test_oauth2_refresh_grant(token_server, pki, users):
    """An offline password grant hands out a refresh token (Docker's identity token) that buys access
    tokens; neither kind of token passes for the other, and an edited one buys nothing."""
    realm = f"{token_server.url}/auth/token"
    form = {"grant_type": "password", "username": "alice", "password": users.alice, "access_type": "offline",
            "service": "reference-registry", "scope": "repository:team/refresh:pull", "client_id": "tests"}
    first = requests.post(realm, data=form, verify=str(pki.ca_cert), timeout=TIMEOUT).json()
    refresh = first["refresh_token"]
    renewed = requests.post(realm, data={"grant_type": "refresh_token", "refresh_token": refresh,
                                         "service": "reference-registry", "scope": "repository:team/refresh:pull",
                                         "client_id": "tests"}, verify=str(pki.ca_cert), timeout=TIMEOUT)
    assert renewed.status_code == 200 and "refresh_token" not in renewed.json()
    ping = get(f"{token_server.url}/v2/team/refresh/tags/list", pki, headers=bearer(renewed.json()["access_token"]))
    assert ping.status_code == 404  # authorised; the repository is empty
    as_access = get(f"{token_server.url}/v2/team/refresh/tags/list", pki, headers=bearer(refresh))
    assert as_access.status_code == 401
    for wrong in (first["access_token"], refresh[:-4] + "AAAA"):
        refused = requests.post(realm, data={"grant_type": "refresh_token", "refresh_token": wrong},
                                verify=str(pki.ca_cert), timeout=TIMEOUT)
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_grant"
    unknown = requests.post(realm, data={"grant_type": "client_credentials"}, verify=str(pki.ca_cert),
                            timeout=TIMEOUT)
    assert unknown.status_code == 400 and unknown.json()["error"] == "unsupported_grant_type"
