"""OpenSSL contexts (Twisted ``CertificateOptions``) from checked certificate files.

One place decides the TLS policy for every listener and every connection the server opens:
TLS 1.2 at least (Twisted's default cipher list, forward secret only), no session tickets,
the chain sent after the leaf. The files were already read and cross-checked when the config
loaded (``cti_server.tls_files``); a problem that still shows up here (a file changed since)
is raised as the same kind of ``ValueError``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from OpenSSL import crypto
from twisted.internet.ssl import CertificateOptions, TLSVersion

from cti_server.tls_files import TlsFiles, load_tls_files, validity_warning
from cti_server.yaml_lines import ConfigError

log = logging.getLogger(__name__)


def _x509(cert: Any) -> Any:
    """pyOpenSSL 24+ takes ``cryptography`` objects (its own X509/PKey are deprecated) and
    Twisted hands ours straight to it; its type hints still name the old classes."""
    return cert


def server_options(files: TlsFiles) -> CertificateOptions:
    """What a listener presents: our chain; clients are not asked for certificates (phones
    authenticate with digest, browsers with tokens)."""
    return CertificateOptions(
        privateKey=_x509(files.key),
        certificate=_x509(files.leaf),
        extraCertChain=[_x509(c) for c in files.chain[1:]],
        raiseMinimumTo=TLSVersion.TLSv1_2,
    )


def client_options(files: TlsFiles) -> CertificateOptions:
    """For connections we open (to a phone's or trunk's ``transport=tls`` contact).

    With CA certificates configured the peer's chain must lead to one of them (its name is
    not checked: contacts are IP addresses, and phones' certificates rarely name them);
    without, the link is encrypted but the peer is not authenticated. Our certificate is
    offered, so a trunk that wants mutual TLS gets one."""
    return CertificateOptions(
        privateKey=_x509(files.key),
        certificate=_x509(files.leaf),
        extraCertChain=[_x509(c) for c in files.chain[1:]],
        verify=bool(files.ca),
        caCerts=[crypto.X509.from_cryptography(c) for c in files.ca]
        or None,  # X509Store wants these
        raiseMinimumTo=TLSVersion.TLSv1_2,
    )


def load_checked(where: str, cert: str, key: str, ca: str | None = None) -> TlsFiles:
    """The files again as the listener starts (they may have changed since the config
    loaded): a problem is a ConfigError naming the config section; a certificate that is
    expired or about to be is logged, not fatal."""
    try:
        files = load_tls_files(cert, key, ca)
    except ValueError as exc:
        raise ConfigError([f"{where}: {exc}"]) from None
    warning = validity_warning(files, datetime.now(UTC))
    if warning is not None:
        log.warning("%s: %s", where, warning)
    return files


def listen_https(reactor: Any, port: int, site: Any, cert: str, key: str, interface: str) -> Any:
    """The HTTP site (REST API, pages, the events WebSocket) over TLS only: HTTPS and WSS."""
    options = server_options(load_checked("http.tls", cert, key))
    return reactor.listenSSL(port, site, options, interface=interface)


__all__ = ["client_options", "listen_https", "load_checked", "server_options"]
