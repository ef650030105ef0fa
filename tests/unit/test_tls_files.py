"""Certificate/key checks and the config errors they become (``file:line: where: reason``)."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from cti_server.config import ConfigError, parse_config
from cti_server.tls_files import load_tls_files, read_key, validity_warning
from tests.e2e.tls_certs import CertFiles, make_certs


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    return make_certs(tmp_path_factory.mktemp("other"), "other")


def _config(cert: Path | str, key: Path | str, section: str = "sip") -> str:
    extra = "  port: 0\n" if section == "sip" else ""
    return f"{section}:\n{extra}  tls:\n    cert: '{cert}'\n    key: '{key}'\n"


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "cti.yaml")
    return caught.value.problems


def test_good_files_load_and_the_port_defaults_to_5061(certs: CertFiles) -> None:
    config = parse_config(f"sip:\n  tls: {{cert: '{certs.cert}', key: '{certs.key}'}}\n")
    assert config.sip.tls is not None and config.sip.tls.port == 5061
    assert config.http.tls is None
    files = load_tls_files(str(certs.cert), str(certs.key), str(certs.ca))
    assert files.leaf.subject.rfc4514_string() == "CN=server"
    assert len(files.ca) == 1


def test_missing_files_name_the_line_of_the_field(certs: CertFiles, tmp_path: Path) -> None:
    missing = tmp_path / "nope.crt"
    problems = _problems(_config(missing, certs.key))
    assert problems == [f"cti.yaml:4: sip.tls.cert: certificate file '{missing}' does not exist"]
    problems = _problems(_config(certs.cert, tmp_path / "nope.key", "http"))
    assert problems[0].startswith("cti.yaml:4: http.tls.key: key file ")


def test_a_directory_is_not_a_certificate(certs: CertFiles, tmp_path: Path) -> None:
    problems = _problems(_config(tmp_path, certs.key))
    assert "is not a regular file" in problems[0], problems


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_key_says_so(certs: CertFiles, tmp_path: Path) -> None:
    key = tmp_path / "locked.key"
    key.write_bytes(certs.key.read_bytes())
    key.chmod(0)
    problems = _problems(_config(certs.cert, key))
    assert "cannot be read: Permission denied" in problems[0], problems


def test_key_of_another_certificate_is_refused(certs: CertFiles, other: CertFiles) -> None:
    problems = _problems(_config(certs.cert, other.key))
    assert len(problems) == 1
    assert problems[0].startswith("cti.yaml:3: sip.tls: the key does not match the certificate"), (
        problems
    )


def test_swapped_cert_and_key_get_a_hint(certs: CertFiles) -> None:
    problems = _problems(_config(certs.key, certs.cert))
    assert "holds no PEM certificate (it holds a private key: swap cert and key?)" in problems[0]
    assert "holds no PEM private key (it holds a certificate: swap cert and key?)" in problems[1]


def test_garbage_and_passphrase_keys(certs: CertFiles, tmp_path: Path) -> None:
    bad = tmp_path / "bad.crt"
    bad.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    assert "is not a valid PEM certificate" in _problems(_config(bad, certs.key))[0]
    key = serialization.load_pem_private_key(certs.key.read_bytes(), password=None)
    locked = tmp_path / "locked.key"
    locked.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    with pytest.raises(ValueError, match="protected by a passphrase"):
        read_key(str(locked))


def test_a_chain_file_must_start_with_the_servers_own_certificate(
    certs: CertFiles, tmp_path: Path
) -> None:
    chain = tmp_path / "chain.crt"
    chain.write_bytes(certs.ca.read_bytes() + certs.cert.read_bytes())  # wrong order
    problems = _problems(_config(chain, certs.key))
    assert "does not start with the server's own certificate" in problems[0]
    chain.write_bytes(certs.cert.read_bytes() + certs.ca.read_bytes())
    parse_config(_config(chain, certs.key), "cti.yaml")  # leaf first: fine


def test_an_unreadable_ca_is_a_config_error(certs: CertFiles, tmp_path: Path) -> None:
    text = _config(certs.cert, certs.key) + f"    ca: '{tmp_path / 'ca.pem'}'\n"
    assert _problems(text) == [
        f"cti.yaml:6: sip.tls.ca: CA file '{tmp_path / 'ca.pem'}' does not exist"
    ]


def test_validity_warnings(tmp_path: Path) -> None:
    files = make_certs(tmp_path, days=30)
    loaded = load_tls_files(str(files.cert), str(files.key))
    now = datetime.datetime.now(datetime.UTC)
    assert validity_warning(loaded, now) is None
    assert "expires in" in (validity_warning(loaded, now + datetime.timedelta(days=20)) or "")
    assert "expired on" in (validity_warning(loaded, now + datetime.timedelta(days=31)) or "")
    assert "not valid before" in (validity_warning(loaded, now - datetime.timedelta(days=2)) or "")
