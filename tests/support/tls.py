"""TLS for test servers: a certificate no trusted CA signed, or one a test CA issued for a name."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import pytest

NEW_KEY = ("-newkey", "rsa:2048", "-nodes")
ONE_DAY = ("-days", "1")


def openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture
def self_signed(tmp_path: Path) -> ssl.SSLContext:
    """A server-side TLS context with a certificate no CA signed."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    openssl("req", "-x509", *NEW_KEY, *ONE_DAY, "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert)
    return server_context(cert, key)


def certificate_for(directory: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context whose certificate a test CA issued for `name`, and a client context trusting that CA."""
    ca_key, ca_cert = directory / "ca-key.pem", directory / "ca.pem"
    key, request, cert = directory / "key.pem", directory / "request.csr", directory / "cert.pem"
    extensions = directory / "extensions.cnf"
    extensions.write_text(f"subjectAltName=DNS:{name}\n")
    openssl("req", "-x509", *NEW_KEY, *ONE_DAY, "-subj", "/CN=test CA", "-keyout", ca_key, "-out", ca_cert)
    openssl("req", *NEW_KEY, "-subj", f"/CN={name}", "-keyout", key, "-out", request)
    issue = (
        "x509",
        "-req",
        "-in",
        request,
        "-CA",
        ca_cert,
        "-CAkey",
        ca_key,
        "-CAcreateserial",
        "-days",
        "1",
    )
    openssl(*issue, "-extfile", extensions, "-out", cert)
    return server_context(cert, key), ssl.create_default_context(cafile=str(ca_cert))
