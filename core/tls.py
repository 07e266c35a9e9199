"""A self-signed TLS certificate for a first start behind nginx (deploy/docker-compose.yml).

Browsers warn about a self-signed certificate: it keeps traffic encrypted until a real one
(Let's Encrypt, see deploy/README.md) takes its place at the same paths.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class CertificateFiles:
    certificate: Path
    key: Path
    made: bool  # False when both files were there already and were kept


def _subject_names(hostnames: list[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hostnames:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def ensure_self_signed(certificate: Path, key: Path, hostnames: list[str], *,
                       days: int = 825) -> CertificateFiles:
    """Write a self-signed certificate and its key unless both files exist already.

    An existing pair (a real certificate put there by the operator) is never replaced.
    Raises ValueError for no host names or when only one of the two files exists.
    """
    hostnames = [h.strip() for h in hostnames if h.strip()]
    if not hostnames:
        raise ValueError("Give at least one host name (the address people type), "
                         "e.g. traptagger.example.org or localhost.")
    if certificate.exists() and key.exists():
        return CertificateFiles(certificate, key, made=False)
    if certificate.exists() != key.exists():
        there, missing = (certificate, key) if certificate.exists() else (key, certificate)
        raise ValueError(f"{there} exists but {missing} does not: put both files of the "
                         "certificate there, or remove the one that is there to make a new pair.")
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0][:64])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(_subject_names(hostnames)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )
    certificate.parent.mkdir(parents=True, exist_ok=True)
    key.parent.mkdir(parents=True, exist_ok=True)
    key_bytes = private.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
    descriptor = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(key_bytes)
    certificate.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return CertificateFiles(certificate, key, made=True)
