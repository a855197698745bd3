"""The load transport frames HTTP/1.1 the way registries answer: lengths, chunked bodies, bodies that end
with the connection, redirects (credentials dropped on another host), reused and stale connections,
oversized heads; and the shared client runs its protocol over it against the reference server."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
import requests
from aiohttp import web

from load.transport import FastSession, TransportError
from reference_server.launcher import serve_in_thread
from registry_harness.builders import build_image
from registry_harness.client import RegistryClient
from registry_harness.target import parse_target


@pytest.fixture
def server() -> Iterator[str]:
    """Answers of every framing a registry may use."""

    async def sized(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 1000, headers={"Docker-Content-Digest": "sha256:ab"})

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for piece in (b"one-", b"two-", b"three"):
            await response.write(piece)
        await response.write_eof()
        return response

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(request.query["to"])

    async def echo_auth(request: web.Request) -> web.Response:
        return web.Response(text=request.headers.get("Authorization", "none"))

    async def upload(request: web.Request) -> web.Response:
        body = await request.read()
        return web.Response(status=201, text=hashlib.sha256(body).hexdigest())

    async def huge_head(request: web.Request) -> web.Response:
        return web.Response(text="x", headers={f"X-Filler-{i}": "y" * 900 for i in range(80)})

    app = web.Application()
    app.router.add_get("/sized", sized)
    app.router.add_get("/chunked", chunked)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/auth", echo_auth)
    app.router.add_put("/upload", upload)
    app.router.add_get("/huge", huge_head)
    with serve_in_thread(app) as url:
        yield url


def test_bodies_are_framed_by_length_and_by_chunks(server):
    session = FastSession()
    sized = session.get(server + "/sized")
    assert sized.status_code == 200 and sized.content == b"x" * 1000
    assert sized.headers["docker-content-digest"] == sized.headers.get("Docker-Content-Digest") == "sha256:ab"
    assert session.get(server + "/chunked").content == b"one-two-three"
    streamed = session.get(server + "/sized", stream=True)
    assert sum(len(piece) for piece in streamed.iter_views(64)) == 1000
    head = session.head(server + "/sized")
    assert head.status_code == 200 and head.content == b"" and head.headers["Content-Length"] == "1000"
    # Four requests in a row, one connection: keep-alive is kept.
    assert sum(len(pool) for pool in session.idle.values()) == 1


def test_an_unread_streamed_body_does_not_poison_the_next_request(server):
    session = FastSession()
    session.get(server + "/sized", stream=True)  # never read
    assert session.get(server + "/chunked").content == b"one-two-three"


def test_redirects_are_followed_and_credentials_stay_on_their_host(server):
    session = FastSession()
    same = server + "/auth"
    other = same.replace("127.0.0.1", "localhost")
    kept = session.get(f"{server}/redirect?to={same}", headers={"Authorization": "Bearer t"})
    assert kept.content == b"Bearer t" and [r.status_code for r in kept.history] == [307]
    dropped = session.get(f"{server}/redirect?to={other}", headers={"Authorization": "Bearer t"})
    assert dropped.content == b"none"
    assert session.get(f"{server}/redirect?to={same}", allow_redirects=False).status_code == 307


def test_bodies_are_sent_from_bytes_and_from_iterables(server):
    session = FastSession()
    data = b"layer" * 5000
    digest = hashlib.sha256(data).hexdigest()
    assert session.request("PUT", server + "/upload", data=data).text == digest
    assert session.request("PUT", server + "/upload", data=iter([data[:7], data[7:]])).text == digest


def test_broken_answers_raise_requests_errors(server):
    session = FastSession()
    with pytest.raises(TransportError, match="head exceeds"):
        session.get(server + "/huge")
    with pytest.raises(requests.ConnectionError):
        session.get("http://127.0.0.1:1/v2/")


def test_a_connection_the_server_closed_is_replaced(server):
    session = FastSession()
    assert session.get(server + "/sized").status_code == 200
    for pool in session.idle.values():
        for conn in pool:
            conn.sock.close()  # as if the server had dropped the idle connection
            conn.closed = False
    assert session.get(server + "/sized").content == b"x" * 1000


def test_the_shared_client_pushes_and_pulls_over_the_transport(registry_url):
    client = RegistryClient(parse_target(registry_url), FastSession())
    image = build_image((300_000,), seed=7)
    client.push_image("transport/check", image, reference="v1", mode="chunked")
    assert client.get_manifest("transport/check", "v1", expect=200).headers["Docker-Content-Digest"] == image.digest
    for blob in image.blobs:
        assert client.pull_verified("transport/check", blob.digest) == blob.data
    assert "v1" in client.tags_list("transport/check", expect=200).json()["tags"]
