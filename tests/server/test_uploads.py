"""Every upload mode (end-4a/b/c, end-5, end-6, end-13, end-14), sha256 and sha512."""

from __future__ import annotations

import os
import socket
import time

import pytest

from registry_harness.digests import digest_of
from tests.server.helpers import Client

DATA = os.urandom(3 * 1024 * 1024 + 17)


def _monolithic(client: Client, repo: str, data: bytes, digest: str, algorithm: str) -> None:
    start = client.post(f"/v2/{repo}/blobs/uploads/", 202, params={"digest-algorithm": algorithm})
    client.put(start.headers["Location"], 201, params={"digest": digest}, data=data)


def _single_post(client: Client, repo: str, data: bytes, digest: str, algorithm: str) -> None:
    response = client.post(f"/v2/{repo}/blobs/uploads/", 201, params={"digest": digest}, data=data)
    assert response.headers["Location"] == f"/v2/{repo}/blobs/{digest}"


def _streamed_patch(client: Client, repo: str, data: bytes, digest: str, algorithm: str) -> None:
    location = client.post(f"/v2/{repo}/blobs/uploads/", 202,
                           params={"digest-algorithm": algorithm}).headers["Location"]
    response = client.patch(location, 202, data=iter([data[:1000], data[1000:]]))  # chunked transfer
    assert response.headers["Range"] == f"0-{len(data) - 1}"
    client.put(response.headers["Location"], 201, params={"digest": digest})


def _chunked_patch(client: Client, repo: str, data: bytes, digest: str, algorithm: str) -> None:
    location = client.post(f"/v2/{repo}/blobs/uploads/", 202,
                           params={"digest-algorithm": algorithm}).headers["Location"]
    step = 1024 * 1024
    for start in range(0, len(data), step):
        chunk = data[start:start + step]
        response = client.patch(location, 202, data=chunk, headers={
            "Content-Range": f"{start}-{start + len(chunk) - 1}",
            "Content-Type": "application/octet-stream"})
        assert response.headers["Range"] == f"0-{start + len(chunk) - 1}"
        assert response.headers["Docker-Upload-UUID"]
        location = response.headers["Location"]
    client.put(location, 201, params={"digest": digest})


def _put_with_last_chunk(client: Client, repo: str, data: bytes, digest: str, algorithm: str) -> None:
    location = client.post(f"/v2/{repo}/blobs/uploads/", 202,
                           params={"digest-algorithm": algorithm}).headers["Location"]
    half = len(data) // 2
    location = client.patch(location, 202, data=data[:half],
                            headers={"Content-Range": f"0-{half - 1}"}).headers["Location"]
    client.put(location, 201, params={"digest": digest}, data=data[half:],
               headers={"Content-Range": f"{half}-{len(data) - 1}"})


MODES = [_monolithic, _single_post, _streamed_patch, _chunked_patch, _put_with_last_chunk]


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
@pytest.mark.parametrize("mode", MODES, ids=lambda mode: mode.__name__.strip("_"))
def test_every_upload_mode_stores_the_exact_bytes(client: Client, repo: str, mode, algorithm: str) -> None:
    digest = digest_of(DATA, algorithm)
    mode(client, repo, DATA, digest, algorithm)
    response = client.get(f"/v2/{repo}/blobs/{digest}", 200)
    assert response.content == DATA
    assert response.headers["Docker-Content-Digest"] == digest


def test_upload_location_keeps_its_state_in_the_path(client: Client, repo: str) -> None:
    location = client.post(f"/v2/{repo}/blobs/uploads/", 202).headers["Location"]
    assert "?" not in location
    assert location.startswith(f"/v2/{repo}/blobs/uploads/")


def test_upload_status_reports_the_received_range(client: Client, repo: str) -> None:
    location = client.post(f"/v2/{repo}/blobs/uploads/", 202).headers["Location"]
    client.patch(location, 202, data=b"0123456789")
    status = client.get(location, 204)
    assert status.headers["Range"] == "0-9"
    assert status.headers["Location"] == location
    assert status.headers["Docker-Upload-UUID"] == location.rsplit("/", 1)[1]


def test_cancel_ends_the_session(client: Client, repo: str) -> None:
    location = client.post(f"/v2/{repo}/blobs/uploads/", 202).headers["Location"]
    client.patch(location, 202, data=b"abc")
    client.delete(location, 204)
    client.get(location, 404, "BLOB_UPLOAD_UNKNOWN")
    client.delete(location, 404, "BLOB_UPLOAD_UNKNOWN")


def test_out_of_order_chunk_is_416_with_the_current_range(client: Client, repo: str) -> None:
    location = client.post(f"/v2/{repo}/blobs/uploads/", 202).headers["Location"]
    client.patch(location, 202, data=b"abcd", headers={"Content-Range": "0-3"})
    response = client.patch(location, 416, data=b"efgh", headers={"Content-Range": "6-9"})
    assert response.headers["Range"] == "0-3"
    assert response.headers["Location"] == location
    # the session is intact and continues at the right offset
    client.patch(location, 202, data=b"efgh", headers={"Content-Range": "4-7"})
    client.put(location, 201, params={"digest": digest_of(b"abcdefgh")})


def test_digest_mismatch_is_400_digest_invalid_everywhere(client: Client, repo: str) -> None:
    wrong = digest_of(b"something else")
    client.post(f"/v2/{repo}/blobs/uploads/", 400, "DIGEST_INVALID", params={"digest": wrong}, data=b"data")
    location = client.post(f"/v2/{repo}/blobs/uploads/", 202).headers["Location"]
    client.put(location, 400, "DIGEST_INVALID", params={"digest": wrong}, data=b"data")
    client.get(f"/v2/{repo}/blobs/{wrong}", 404)


def test_closing_put_without_digest_is_400(client: Client, repo: str) -> None:
    location = client.post(f"/v2/{repo}/blobs/uploads/", 202).headers["Location"]
    client.put(location, 400, "DIGEST_INVALID", data=b"data")


def test_content_range_disagreeing_with_the_body_is_size_invalid(client: Client, repo: str) -> None:
    location = client.post(f"/v2/{repo}/blobs/uploads/", 202).headers["Location"]
    client.patch(location, 400, "SIZE_INVALID", data=b"abc", headers={"Content-Range": "0-9"})
    assert client.get(location, 204).headers["Range"] == "0-0"  # nothing of the bad chunk kept


def test_body_shorter_than_content_length_is_size_invalid(server, repo: str) -> None:
    client = Client(server.url)
    location = client.post(f"/v2/{repo}/blobs/uploads/", 202).headers["Location"]
    host, port = server.host_port.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"PATCH {location} HTTP/1.1\r\nHost: {server.host_port}\r\n"
                     "Content-Length: 100\r\nConnection: close\r\n\r\n".encode() + b"x" * 40)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    # A half-closed connection may be gone before an answer fits; if one comes, it is SIZE_INVALID.
    assert answer == b"" or (answer.startswith(b"HTTP/1.1 400") and b"SIZE_INVALID" in answer), answer[:300]
    assert client.get(location, 204).headers["Range"] == "0-0"  # nothing of the cut body kept
    assert "Traceback" not in server.stderr_text()


def test_large_chunk_cut_short_is_undone_and_can_be_resent(server, repo: str) -> None:
    """A cut body larger than the store's write-back step (8 MiB) leaves the session exactly at
    its previous offset; the chunk can be sent again and the blob comes back byte for byte."""
    client = Client(server.url)
    data = os.urandom(4 * 1024 * 1024) + os.urandom(18 * 1024 * 1024)
    first = 4 * 1024 * 1024
    location = client.post(f"/v2/{repo}/blobs/uploads/", 202).headers["Location"]
    location = client.patch(location, 202, data=data[:first], headers={"Content-Range": f"0-{first - 1}"}
                            ).headers["Location"]
    host, port = server.host_port.split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(f"PATCH {location} HTTP/1.1\r\nHost: {server.host_port}\r\n"
                     f"Content-Range: {first}-{len(data) - 1}\r\nContent-Length: {len(data) - first}\r\n"
                     "Connection: close\r\n\r\n".encode())
        sock.sendall(data[first:first + 13 * 1024 * 1024])  # 13 of 18 MiB, then the client goes away
        sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + 30
        while sock.recv(65536) and time.monotonic() < deadline:
            pass
    # The server may still be winding the cut request down: its Range must settle on the old offset.
    settle = time.monotonic() + 10
    while client.get(location, 204).headers["Range"] != f"0-{first - 1}" and time.monotonic() < settle:
        time.sleep(0.05)
    assert client.get(location, 204).headers["Range"] == f"0-{first - 1}"
    location = client.patch(location, 202, data=data[first:], headers={
        "Content-Range": f"{first}-{len(data) - 1}"}).headers["Location"]
    client.put(location, 201, params={"digest": digest_of(data)})
    assert client.get(f"/v2/{repo}/blobs/{digest_of(data)}", 200).content == data


def test_unknown_digest_algorithm_is_rejected(client: Client, repo: str) -> None:
    client.post(f"/v2/{repo}/blobs/uploads/", 400, "DIGEST_INVALID", params={"digest-algorithm": "md5"})


def test_session_of_another_repository_is_unknown(client: Client, repo: str) -> None:
    location = client.post(f"/v2/{repo}/blobs/uploads/", 202).headers["Location"]
    uuid = location.rsplit("/", 1)[1]
    client.get(f"/v2/{repo}-other/blobs/uploads/{uuid}", 404, "BLOB_UPLOAD_UNKNOWN")
    client.get(f"/v2/{repo}/blobs/uploads/not-a-session", 404, "BLOB_UPLOAD_UNKNOWN")


def test_sessions_expire(make_server) -> None:
    client = make_server("--upload-ttl", "1")
    location = client.post("/v2/expiry/blobs/uploads/", 202).headers["Location"]
    client.patch(location, 202, data=b"abc")
    time.sleep(1.6)
    client.get(location, 404, "BLOB_UPLOAD_UNKNOWN")
    client.put(location, 404, "BLOB_UPLOAD_UNKNOWN", params={"digest": digest_of(b"abc")})


def test_chunk_min_length_is_advertised(make_server) -> None:
    client = make_server("--chunk-min-length", "65536", "--storage", "memory")
    response = client.post("/v2/chunky/blobs/uploads/", 202)
    assert response.headers["OCI-Chunk-Min-Length"] == "65536"


def test_default_server_advertises_no_chunk_minimum(client: Client, repo: str) -> None:
    assert "OCI-Chunk-Min-Length" not in client.post(f"/v2/{repo}/blobs/uploads/", 202).headers


def test_empty_blob(client: Client, repo: str) -> None:
    digest = digest_of(b"")
    client.post(f"/v2/{repo}/blobs/uploads/", 201, params={"digest": digest}, data=b"")
    response = client.get(f"/v2/{repo}/blobs/{digest}", 200)
    assert response.content == b"" and response.headers["Content-Length"] == "0"
