"""The ``tls:`` sections of the config (``sip.tls``, ``http.tls``), apart from config.py's
other sections because they validate files, not values."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class TlsConfig(BaseModel):
    """A PEM certificate (leaf first, then intermediates) and its unencrypted private key.

    The files are read and cross-checked at load (``cti_server.tls_files``), so a missing,
    unreadable or mismatched file is a ``file:line`` config error, not a failed handshake.
    Relative paths are relative to the server's working directory, as ``data_dir`` is."""

    model_config = ConfigDict(extra="forbid", frozen=True)  # as every config section

    cert: str = Field(description="PEM certificate file: the server's own first, then its chain")
    key: str = Field(description="PEM private key file (no passphrase; keep it mode 0600)")

    @field_validator("cert")
    @classmethod
    def _cert_readable(cls, value: str) -> str:
        from cti_server.tls_files import read_certificates

        read_certificates(value)
        return value

    @field_validator("key")
    @classmethod
    def _key_readable(cls, value: str) -> str:
        from cti_server.tls_files import read_key

        read_key(value)
        return value

    @model_validator(mode="after")
    def _key_matches(self) -> TlsConfig:
        from cti_server.tls_files import check_pair, read_certificates, read_key

        check_pair(read_certificates(self.cert), read_key(self.key), self.cert)
        return self


class SipTlsConfig(TlsConfig):
    """SIP over TLS (RFC 3261 §26.2, ``sips:``): listening on ``port`` is on when set."""

    port: int = Field(5061, ge=0, le=65535, description="SIP over TLS port; 0 = any free port")
    ca: str | None = Field(
        None,
        description="PEM CA certificates: connections the server opens to TLS contacts are "
        "verified against them (unset: encrypted but the peer is not authenticated)",
    )

    @field_validator("ca")
    @classmethod
    def _ca_readable(cls, value: str | None) -> str | None:
        from cti_server.tls_files import read_certificates

        if value is not None:
            read_certificates(value, "CA")
        return value
