"""Certificate and key files for SIP over TLS and HTTPS, checked when the config loads.

A TLS listener that only fails when the first phone connects (or logs an OpenSSL error
nobody reads) is the usual way encryption "works" in production until it doesn't; so the
config validators call :func:`check_certificate`, :func:`check_key` and :func:`check_pair`
and a mistake comes back as ``file:line: sip.tls.key: ...`` before anything listens.
:func:`load_tls_files` is what the adapters build their OpenSSL contexts from.

Only the ``cryptography`` package is used here (no Twisted): the same checks serve the
``cti-server check-config`` path and the composition root.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

_SIGNING_KEYS = (
    rsa.RSAPrivateKey,
    ec.EllipticCurvePrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
)


@dataclass(frozen=True)
class TlsFiles:
    """A certificate chain (leaf first) and its private key, as the files held them."""

    chain: tuple[x509.Certificate, ...]
    key: PrivateKeyTypes
    ca: tuple[x509.Certificate, ...] = ()

    @property
    def leaf(self) -> x509.Certificate:
        return self.chain[0]


def _read(path: str, what: str) -> bytes:
    p = Path(path)
    try:
        exists, regular = p.exists(), p.is_file()
    except OSError as exc:  # a path too long for the file system, say
        raise ValueError(f"{what} file {path[:80]!r} cannot be read: {exc.strerror}") from None
    if not exists:
        raise ValueError(f"{what} file {path!r} does not exist")
    if not regular:
        raise ValueError(f"{what} file {path!r} is not a regular file")
    try:
        return p.read_bytes()
    except OSError as exc:  # permissions: the usual mistake with a key owned by root
        raise ValueError(f"{what} file {path!r} cannot be read: {exc.strerror}") from None


def read_certificates(path: str, what: str = "certificate") -> tuple[x509.Certificate, ...]:
    """All PEM certificates in a file, in order (a server file is leaf first, then chain)."""
    data = _read(path, what)
    if b"-----BEGIN CERTIFICATE-----" not in data:
        hint = " (it holds a private key: swap cert and key?)" if b"PRIVATE KEY" in data else ""
        raise ValueError(f"{what} file {path!r} holds no PEM certificate{hint}")
    try:
        return tuple(x509.load_pem_x509_certificates(data))
    except ValueError as exc:
        raise ValueError(f"{what} file {path!r} is not a valid PEM certificate: {exc}") from None


def read_key(path: str) -> PrivateKeyTypes:
    """The PEM private key in a file; a passphrase-protected key is refused with a fix."""
    data = _read(path, "key")
    if b"PRIVATE KEY-----" not in data:
        hint = " (it holds a certificate: swap cert and key?)" if b"CERTIFICATE" in data else ""
        raise ValueError(f"key file {path!r} holds no PEM private key{hint}")
    if b"ENCRYPTED" in data:
        raise ValueError(
            f"key file {path!r} is protected by a passphrase, which the server cannot type "
            "in: decrypt it (openssl pkey -in key.pem -out plain.pem) and keep it mode 0600"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"key file {path!r} is not a valid PEM private key: {exc}") from None
    if not isinstance(key, _SIGNING_KEYS):
        raise ValueError(f"key file {path!r} holds a {type(key).__name__}, not a TLS server key")
    return key


def _public_der(key: object) -> bytes:
    public = key.public_key()  # type: ignore[attr-defined]
    return bytes(
        public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def check_pair(chain: tuple[x509.Certificate, ...], key: PrivateKeyTypes, cert_path: str) -> None:
    """The key must be the one the (first) certificate was issued for."""
    if _public_der(chain[0]) != _public_der(key):
        raise ValueError(
            f"the key does not match the certificate {cert_path!r} "
            f"(subject {chain[0].subject.rfc4514_string()!r}): wrong key file, or the "
            "certificate file does not start with the server's own certificate"
        )


def load_tls_files(cert: str, key: str, ca: str | None = None) -> TlsFiles:
    """Read and cross-check the files; every problem is a ValueError a person can act on."""
    chain = read_certificates(cert)
    private = read_key(key)
    check_pair(chain, private, cert)
    authorities = read_certificates(ca, "CA") if ca else ()
    return TlsFiles(chain, private, authorities)


def validity_warning(files: TlsFiles, now: datetime) -> str | None:
    """A warning for a leaf certificate that is expired, not yet valid or expiring soon.

    Not a config error: a server that refuses to start over an expired certificate takes the
    unencrypted transports (and the call center) down with it."""
    leaf = files.leaf
    subject = leaf.subject.rfc4514_string()
    if now < leaf.not_valid_before_utc:
        return f"certificate {subject!r} is not valid before {leaf.not_valid_before_utc:%Y-%m-%d}"
    if now > leaf.not_valid_after_utc:
        return f"certificate {subject!r} expired on {leaf.not_valid_after_utc:%Y-%m-%d}"
    days = (leaf.not_valid_after_utc - now).days
    if days < 14:
        return f"certificate {subject!r} expires in {days} days"
    return None


__all__ = [
    "TlsFiles",
    "check_pair",
    "load_tls_files",
    "read_certificates",
    "read_key",
    "validity_warning",
]
