"""A throw-away certificate authority for the demo's HTTPS shop, so that the demo shows a certificate check
(and its expiry metric) without reaching the internet or trusting anything outside the demo."""

from __future__ import annotations

import datetime
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

VALID_DAYS = 90  # what Let's Encrypt issues: the expiry panel shows a realistic countdown


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_demo_tls(host_name: str, directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context with a certificate for host_name, and the path of the CA file that trusts it."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("channel-monitor demo CA")
    ca = (
        _valid(x509.CertificateBuilder(), now, VALID_DAYS + 1)
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        # The extensions OpenSSL's strict mode (Python 3.13's default context) requires of a CA and a leaf.
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        _valid(x509.CertificateBuilder(), now, VALID_DAYS)
        .subject_name(_name(host_name))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host_name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    ca_path, chain_path, key_path = directory / "demo-ca.pem", directory / "demo-shop.pem", directory / "demo-shop.key"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    key_path.chmod(0o600)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(chain_path, key_path)
    return context, ca_path


def _valid(builder: x509.CertificateBuilder, now: datetime.datetime, days: int) -> x509.CertificateBuilder:
    """A fresh serial, valid from an hour ago (clock skew) for `days` days."""
    return (
        builder.serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=days))
    )


def _key_usage(**allowed: bool) -> x509.KeyUsage:
    """KeyUsage with only the named uses set."""
    uses = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement")
    uses += ("key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
    return x509.KeyUsage(**{use: allowed.get(use, False) for use in uses})
