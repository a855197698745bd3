"""The shared client's auth flows against the real reference server: anonymous, Basic and Bearer,
the token cache, scope upgrade, renewal on expiry and on 401, redirects and TLS verification."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web

from reference_server.app import create_app
from reference_server.auth import parse_auth
from reference_server.config import ServerConfig
from reference_server.launcher import serve_in_thread, start_server
from registry_harness.builders import build_image
from registry_harness.client import RegistryClient, RegistryError
from registry_harness.exchange import Exchange
from registry_harness.target import parse_target, target_from_env
from tests.auth.pki import make_pki


def token_scopes(exchanges: list[Exchange]) -> list[list[str]]:
    """The scope parameters of every token request, in order."""
    return [parse_qs(urlsplit(e.url).query).get("scope", []) for e in exchanges if "/auth/token" in e.url]


def jwt_access(token: str) -> list[dict]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["access"]


def statuses(exchanges: list[Exchange]) -> list[tuple[str, str, int | None]]:
    return [(e.method, urlsplit(e.url).path, e.status) for e in exchanges]


# -- Basic ---------------------------------------------------------------------------------------

def test_basic_flow_answers_the_challenge_once_then_sends_credentials_up_front(htpasswd_server, client_for):
    seen: list[Exchange] = []
    alice = client_for(htpasswd_server, "alice", recorder=seen.append)
    assert alice.ping().status_code == 200
    assert [e.status for e in seen] == [401, 200]
    assert dict(seen[1].request_headers)["Authorization"].startswith("Basic ")
    seen.clear()
    image = build_image((200,))
    alice.push_image("team/basic", image, "v1")
    assert all(e.status != 401 for e in seen), statuses(seen)
    assert alice.pull_verified("team/basic", image.blobs[0].digest) == image.blobs[0].data


def test_basic_wrong_password_stops_after_one_retry(htpasswd_server, client_for, users):
    seen: list[Exchange] = []
    mallory = client_for(htpasswd_server, "alice", password=users.bob, recorder=seen.append)
    assert mallory.ping().status_code == 401
    assert [e.status for e in seen] == [401, 401]


# -- Bearer --------------------------------------------------------------------------------------

def test_bearer_tokens_are_cached_per_scope(token_server, client_for):
    fetched = []
    alice = client_for(token_server, "alice")
    alice.on_token = lambda result, ms: fetched.append(result.status)
    image = build_image((200,))
    alice.push_image("team/cache", image, "v1")
    before = len(fetched)
    for _ in range(3):
        alice.get_manifest("team/cache", "v1", expect=200)
        alice.head_blob("team/cache", image.blobs[0].digest, expect=200)
    assert len(fetched) == before, "pulls with a cached, fresh pull token must not fetch new tokens"
    assert all(status == 200 for status in fetched)


def test_push_after_pull_upgrades_the_scope(token_server, client_for):
    image = build_image((200,))
    client_for(token_server, "alice").push_image("team/upgrade", image, "v1")
    seen: list[Exchange] = []
    alice = client_for(token_server, "alice", recorder=seen.append)
    alice.get_manifest("team/upgrade", "v1", expect=200)
    assert token_scopes(seen) == [["repository:team/upgrade:pull"]]
    pull_token = alice.last_token_response.token.value
    assert jwt_access(pull_token) == [{"type": "repository", "name": "team/upgrade", "actions": ["pull"]}]
    seen.clear()
    alice.push_blob("team/upgrade", b"a new layer")
    assert token_scopes(seen) == [["repository:team/upgrade:pull,push"]]
    push_token = alice.last_token_response.token.value
    assert jwt_access(push_token) == [{"type": "repository", "name": "team/upgrade", "actions": ["pull", "push"]}]
    # the refused attempt went out with the pull token, the retry with the upgraded one
    posts = [e for e in seen if e.method == "POST"]
    assert [e.status for e in posts] == [401, 202]


def test_anonymous_client_pulls_public_content_and_cannot_push(token_server, client_for):
    image = build_image((200,))
    client_for(token_server, "alice").push_image("public/base", image, "v1")
    seen: list[Exchange] = []
    anonymous = client_for(token_server, None, recorder=seen.append)
    response = anonymous.get_manifest("public/base", "v1", expect=200)
    assert response.content == image.manifest
    assert all("Authorization" not in dict(e.request_headers) for e in seen if "/auth/token" in e.url)
    seen.clear()
    refused = anonymous.start_upload("public/base")
    assert refused.status_code == 401
    assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]
    assert len(seen) == 3, statuses(seen)  # POST 401, one token request, POST 401: no loop


def test_wrong_password_in_token_mode_is_reported_not_retried(token_server, client_for, users):
    seen: list[Exchange] = []
    mallory = client_for(token_server, "alice", password=users.bob, recorder=seen.append)
    assert mallory.ping().status_code == 401
    assert mallory.last_token_response.status == 401
    assert [e.status for e in seen] == [401, 401]


def test_token_renewed_before_it_expires(short_token_server, client_for):
    image = build_image((200,))
    client_for(short_token_server, "alice").push_image("team/renew", image, "v1")
    seen: list[Exchange] = []
    alice = client_for(short_token_server, "alice", recorder=seen.append)
    alice.get_manifest("team/renew", "v1", expect=200)
    first = alice.last_token_response.token.value
    time.sleep(1.7)  # a 2-second token is renewed once less than a fifth of its life remains
    seen.clear()
    alice.get_manifest("team/renew", "v1", expect=200)
    assert [e.status for e in seen] == [200, 200], statuses(seen)  # token GET, then the manifest: no 401
    assert "/auth/token" in seen[0].url
    assert alice.last_token_response.token.value != first
    time.sleep(2.2)  # fully expired: still renewed without a 401
    seen.clear()
    alice.get_manifest("team/renew", "v1", expect=200)
    assert [e.status for e in seen] == [200, 200], statuses(seen)


def test_token_renewed_on_401_after_a_server_restart(tmp_path, pki, users, access_file):
    args = ["--root", str(tmp_path / "data"), "--auth", f"token:{access_file}",
            "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key)]
    image = build_image((200,))
    seen: list[Exchange] = []
    with start_server([*args, "--listen", "127.0.0.1:0"]) as first:
        port = first.url.rsplit(":", 1)[1]
        target = parse_target(first.url, tls="enabled", ca_bundle=str(pki.ca_cert))
        alice = RegistryClient(target, recorder=seen.append, username="alice", password=users.alice)
        alice.push_image("team/restart", image, "v1")
        alice.get_manifest("team/restart", "v1", expect=200)
    with start_server([*args, "--listen", f"127.0.0.1:{port}"]):  # a new signing key: old tokens are void
        seen.clear()
        alice.get_manifest("team/restart", "v1", expect=200)
    assert [e.status for e in seen] == [401, 200, 200], statuses(seen)
    assert 'error="invalid_token"' in dict(seen[0].response_headers)["WWW-Authenticate"]


def test_mount_widens_the_token_to_the_source_repository(token_server, client_for):
    image = build_image((300,))
    alice = client_for(token_server, "alice")
    alice.push_image("team/source", image, "v1")
    seen: list[Exchange] = []
    alice.recorder = seen.append
    response = alice.mount_blob("team/target", image.blobs[-1].digest, "team/source")
    assert response.status_code == 201, statuses(seen)
    assert token_scopes(seen)[-1] == ["repository:team/target:pull,push", "repository:team/source:pull"]


# -- redirects -----------------------------------------------------------------------------------

def _blob_redirect(elsewhere: str):
    """Send successful blob GETs to ``elsewhere`` (as a registry sends them to a CDN)."""

    @web.middleware
    async def redirect(request: web.Request, handler):
        response = await handler(request)
        if request.method == "GET" and "/blobs/sha256:" in request.path and response.status == 200:
            digest = request.path.rsplit("/", 1)[1]
            return web.Response(status=307, headers={"Location": f"{elsewhere}/cdn/{digest}"})
        return response

    return redirect


def _cdn(blobs: dict[str, bytes], seen_headers: list[dict[str, str]]) -> web.Application:
    async def serve(request: web.Request) -> web.Response:
        seen_headers.append(dict(request.headers))
        return web.Response(body=blobs[request.match_info["digest"]])

    app = web.Application()
    app.router.add_get("/cdn/{digest}", serve)
    return app


@pytest.mark.parametrize("mode", ["htpasswd", "token"])
@pytest.mark.parametrize("cdn_host", ["127.0.0.2", "127.0.0.1"])
def test_credentials_never_follow_a_redirect_to_another_host(mode, cdn_host, tmp_path, htpasswd_file,
                                                             access_file, users):
    auth = parse_auth(f"htpasswd:{htpasswd_file}" if mode == "htpasswd" else f"token:{access_file}")
    image = build_image((400,))
    layer = image.blobs[-1]
    cdn_headers: list[dict[str, str]] = []
    with serve_in_thread(_cdn({layer.digest: layer.data}, cdn_headers), host=cdn_host) as cdn_url:
        config = ServerConfig(root=tmp_path, storage="memory", auth=auth)
        app = create_app(config, middlewares=[_blob_redirect(cdn_url)])
        with serve_in_thread(app) as registry_url:
            seen: list[Exchange] = []
            alice = RegistryClient(parse_target(registry_url), recorder=seen.append, username="alice",
                                   password=users.alice)
            alice.push_image("team/cdn", image, "v1")
            assert alice.pull_verified("team/cdn", layer.digest) == layer.data
    assert len(cdn_headers) == 1
    assert "Authorization" not in cdn_headers[0], "credentials leaked to the redirect target"
    blob_gets = [e for e in seen if e.method == "GET" and layer.digest in e.url]
    assert blob_gets and "Authorization" in dict(blob_gets[-1].request_headers)  # the registry did get them


# -- TLS -----------------------------------------------------------------------------------------

def test_tls_verified_with_the_right_ca_bundle(token_server, pki):
    env = {"TARGET": token_server.host_port, "OCI_TLS": "enabled", "OCI_CA_BUNDLE": str(pki.ca_cert)}
    client = RegistryClient(target_from_env(env))
    assert client.ping().status_code == 200  # verified, both the registry and its token endpoint


def test_tls_verification_fails_without_the_ca(token_server):
    client = RegistryClient(parse_target(token_server.url, tls="enabled"))
    with pytest.raises(RegistryError, match="(?i)certificate"):
        client.ping()


def test_tls_verification_fails_with_another_ca(token_server, tmp_path):
    stranger = make_pki(tmp_path / "stranger")
    client = RegistryClient(parse_target(token_server.url, tls="enabled", ca_bundle=str(stranger.ca_cert)))
    with pytest.raises(RegistryError, match="(?i)certificate"):
        client.ping()


def test_insecure_mode_skips_verification(token_server):
    client = RegistryClient(parse_target(token_server.url, tls="insecure"))
    assert client.ping().status_code == 200


def test_environment_ca_bundle_does_not_override_the_tls_mode(token_server, pki, tmp_path, monkeypatch):
    stranger: Path = make_pki(tmp_path / "stranger").ca_cert
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(stranger))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(stranger))
    insecure = RegistryClient(parse_target(token_server.url, tls="insecure"))
    assert insecure.ping().status_code == 200
    verified = RegistryClient(parse_target(token_server.url, tls="enabled", ca_bundle=str(pki.ca_cert)))
    assert verified.ping().status_code == 200


# -- OAuth2 --------------------------------------------------------------------------------------

def test_oauth_client_asks_by_post_and_falls_back_to_get_where_post_is_not_served(tmp_path, access_file, users):
    """``client.oauth``: tokens by OAuth2 POST grant_type=password; a realm answering the POST with
    404 (a GET-only token service) gets the GET flow instead."""
    auth = parse_auth(f"token:{access_file}")

    @web.middleware
    async def get_only(request: web.Request, handler):
        if request.path == "/auth/token" and request.method == "POST":
            return web.Response(status=404)
        return await handler(request)

    image = build_image((300,))
    for middlewares, method in (([], "POST"), ([get_only], "GET")):
        app = create_app(ServerConfig(root=tmp_path, storage="memory", auth=auth), middlewares=middlewares)
        with serve_in_thread(app) as url:
            seen: list[Exchange] = []
            alice = RegistryClient(parse_target(url), recorder=seen.append, username="alice", password=users.alice)
            alice.oauth = True
            alice.push_image("team/oauth", image, "v1")
            assert alice.pull_verified("team/oauth", image.blobs[-1].digest) == image.blobs[-1].data
        token_calls = [e for e in seen if "/auth/token" in e.url]
        assert token_calls and token_calls[-1].method == method, [(e.method, e.status) for e in token_calls]
        assert all(e.request_body is None for e in token_calls if e.method == "POST")
