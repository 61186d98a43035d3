"""Throwaway client certificates for the mTLS tests (RFC 8705), made with ``cryptography``:
a CA and the certificates it issues (``tls_client_auth``), self-signed ones
(``self_signed_tls_client_auth``), and the forms a proxy passes them in."""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from jwt.algorithms import ECAlgorithm

ORGANIZATION = "Example"


@dataclass(frozen=True)
class Issued:
    """A certificate with its private key."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")

    @property
    def thumbprint(self) -> str:
        """RFC 8705 §3.1 x5t#S256, computed here independently of oauth_cc."""
        digest = hashlib.sha256(self.der).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")

    def escaped(self) -> str:
        """The certificate as nginx's ``$ssl_client_escaped_cert`` passes it."""
        return quote(self.pem, safe="")

    def jwks(self) -> str:
        """A JWK Set with this certificate's key and the certificate as ``x5c``."""
        jwk: dict[str, Any] = ECAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        jwk["x5c"] = [base64.b64encode(self.der).decode("ascii")]
        return json.dumps({"keys": [jwk]})

    def write(self, folder: Path, stem: str) -> tuple[str, str]:
        """``stem.pem`` and ``stem.key`` (mode 0600) in ``folder``, for an HTTP client."""
        cert, key = folder / f"{stem}.pem", folder / f"{stem}.key"
        cert.write_text(self.pem)
        key.touch(mode=0o600)
        key.write_bytes(self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        return str(cert), str(key)


def name(common_name: str, organization: str = ORGANIZATION) -> x509.Name:
    """``CN=<common_name>,O=<organization>`` (RFC 4514 order: the last RDN first)."""
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey
             ) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(issuer).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1)))


def make_ca(common_name: str = "oauth_cc test client CA") -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = name(common_name)
    certificate = (_builder(subject, subject, key)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .add_extension(x509.KeyUsage(
                       digital_signature=False, content_commitment=False,
                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                       key_cert_sign=True, crl_sign=True, encipher_only=False,
                       decipher_only=False), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                                  critical=False)
                   .sign(key, hashes.SHA256()))
    return Issued(certificate, key)


def san(*, dns: str | None = None, uri: str | None = None, ip: str | None = None,
        email: str | None = None) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    if dns:
        names.append(x509.DNSName(dns))
    if uri:
        names.append(x509.UniformResourceIdentifier(uri))
    if ip:
        names.append(x509.IPAddress(ipaddress.ip_address(ip)))
    if email:
        names.append(x509.RFC822Name(email))
    return names


def issue(ca: Issued, subject: x509.Name, names: list[x509.GeneralName] | None = None
          ) -> Issued:
    """A client certificate for ``subject`` (and SANs) signed by ``ca``."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (_builder(subject, ca.certificate.subject, key)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                              critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   ca.key.public_key()), critical=False))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return Issued(builder.sign(ca.key, hashes.SHA256()), key)


def self_signed(common_name: str = "self-signed client") -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = name(common_name)
    certificate = (_builder(subject, subject, key)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                                  critical=True)
                   .sign(key, hashes.SHA256()))
    return Issued(certificate, key)
