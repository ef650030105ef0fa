"""Agents' SIP accounts stored in the database (HA1 only) register over real SIP."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import BASE_CONFIG, free_port, start_server, stop_server
from tests.e2e.helpers import register_agent

pytestmark = pytest.mark.e2e


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cti_server", "--log-level", "WARNING", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_an_account_added_with_the_cli_registers_and_no_password_is_stored(tmp_path: Path) -> None:
    config = tmp_path / "cti.yaml"
    config.write_text(
        BASE_CONFIG.format(
            ring_timeout=8, uas_port=free_port(), media_mode="anchor", rtp_timeout=60
        )
        + f"data_dir: {tmp_path / 'data'}\n"
    )
    assert cli("db", "upgrade", "--config", str(config)).returncode == 0
    added = cli(
        "accounts", "add", "2001", "--md5-only", "--config", str(config), stdin="s3cret-Pw\n"
    )
    assert added.returncode == 0, added.stderr
    server = start_server(tmp_path, config.read_text())
    try:
        register_agent(tmp_path, server, "2001", "s3cret-Pw", free_port())
    finally:
        stop_server(server)
    for path in (tmp_path / "data").glob("cti.sqlite3*"):
        assert b"s3cret-Pw" not in path.read_bytes()
