"""An https webhook goes to the judged address and still verifies the certificate for the URL's host name."""

from __future__ import annotations

import datetime as dt
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from threshold.notify.ports import Note
from threshold.notify.targets import IPAddress
from threshold.notify.webhooks import WebhookSender, new_secret

NAME = "hooks.partner.test"


def _cert(subject: str, issuer: x509.Name, key: ec.EllipticCurvePrivateKey, signer: ec.EllipticCurvePrivateKey,
          ca: bool, names: list[str]) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(issuer).public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(hours=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                                        critical=False)
    return builder.sign(signer, hashes.SHA256())


@dataclass
class TlsReceiver:
    """An https endpoint on 127.0.0.1 whose certificate names only hooks.partner.test; records each POST's Host."""

    port: int = 0
    hosts: list[str] = field(default_factory=list)


@pytest.fixture
def tls_receiver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TlsReceiver]:
    """The receiver, with its test CA trusted by httpx (SSL_CERT_FILE) for the test's duration."""
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _cert("threshold test CA", x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "threshold test CA")]),
               ca_key, ca_key, True, [])
    leaf = _cert(NAME, ca.subject, leaf_key, ca_key, False, [NAME])
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "leaf.key").write_bytes(leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    receiver = TlsReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            receiver.hosts.append(str(self.headers["host"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "leaf.pem", tmp_path / "leaf.key")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()


async def loopback(host: str, port: int) -> list[IPAddress]:
    """Every name resolves to 127.0.0.1 (no real resolver knows these names)."""
    return [IPv4Address("127.0.0.1")]


def note(url: str) -> Note:
    """A signed webhook note for `url`."""
    return Note(key="evt-1:webhook:ep-1", channel="webhook", recipient=url, moment="delivered",
                topic="delivery.completed", secret=new_secret())


async def test_https_to_the_judged_address_verifies_the_certificate_of_the_host_name(
        tls_receiver: TlsReceiver) -> None:
    sender = WebhookSender(allowed=["127.0.0.0/8"], resolve=loopback)
    await sender.send(note(f"https://{NAME}:{tls_receiver.port}/hooks"))
    assert tls_receiver.hosts == [f"{NAME}:{tls_receiver.port}"]


async def test_https_to_a_name_the_certificate_does_not_carry_is_not_sent(tls_receiver: TlsReceiver) -> None:
    sender = WebhookSender(allowed=["127.0.0.0/8"], resolve=loopback)
    with pytest.raises(httpx.ConnectError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        await sender.send(note(f"https://other.partner.test:{tls_receiver.port}/hooks"))
    assert tls_receiver.hosts == []
