"""The launcher: subprocess and in-thread servers, TLS, startup failures, the middleware seam."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
import requests
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from reference_server import ServerConfig, create_app, errors
from reference_server.launcher import ServerStartError, serve_in_thread, start_server
from tests.server.helpers import Client


@web.middleware
async def broken(request: web.Request, handler):
    if request.path.endswith("/tags/list"):
        raise RuntimeError("secret internal detail")
    if request.path.startswith("/v2/private/"):
        raise errors.unauthorized(headers={"WWW-Authenticate": 'Basic realm="test"'})
    return await handler(request)


def test_in_thread_server_with_a_broken_middleware() -> None:
    app = create_app(ServerConfig(storage="memory"), middlewares=[broken])
    with serve_in_thread(app) as url:
        client = Client(url)
        client.get("/v2/", 200)
        failed = client.get("/v2/any/tags/list", 500, "UNKNOWN")
        assert "secret internal detail" not in failed.text and "Traceback" not in failed.text
        denied = client.get("/v2/private/x/manifests/latest", 401, "UNAUTHORIZED")
        assert denied.headers["WWW-Authenticate"] == 'Basic realm="test"'
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/v2/", timeout=2)


def test_start_server_reports_a_failed_start() -> None:
    with pytest.raises(ServerStartError, match="--bogus"):
        start_server(["--bogus"])


def test_server_process_exposes_url_and_stops(tmp_path: Path) -> None:
    process = start_server(["--storage", "memory"])
    assert process.url.startswith("http://127.0.0.1:")
    assert process.host_port == process.url.split("://")[1]
    Client(process.url).get("/v2/", 200)
    assert process.stop() == 0


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now)
                   .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    with start_server(["--storage", "memory", "--tls-cert", str(cert), "--tls-key", str(key)]) as process:
        assert process.url.startswith("https://")
        response = requests.get(process.url + "/v2/", verify=False, timeout=10)
        assert response.status_code == 200 and response.json() == {}
