"""baresip (Debian baresip-core 1.0.0) as an agent over SIP/TLS and/or with SRTP (SDES).

The plain agent (``baresip_agent.py``) registers over UDP; this one can register over TLS
(``;transport=tls``, trusting the test CA given as ``sip_cafile``) and offer SRTP with the
``srtp`` module (``mediaenc=srtp`` offers RTP/SAVP with a=crypto; ``srtp-mand`` insists on
it). ``-s`` puts a SIP trace in the log, so tests can read the headers it received;
``commands`` are run at start (``-e``), e.g. ``/dial sip:1002@host`` to make it the caller.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import STARTED, free_port
from tests.e2e.peers.baresip_agent import CONFIG, MODULES


class SecureBaresip:
    def __init__(
        self,
        workdir: Path,
        server_port: int,
        user: str,
        password: str,
        *,
        tls_ca: Path | None = None,
        mediaenc: str | None = None,
        lifetime: int = 30,
        commands: tuple[str, ...] | list[str] = (),
    ) -> None:
        self.dir = workdir / f"baresip_{user}"
        self.dir.mkdir()
        self.sip_port = free_port()
        self.rtp_low = free_port() & ~1
        modules = list(MODULES) + (["srtp"] if mediaenc else [])
        lines = "\n".join(
            f"module{'_app' if m in ('account', 'menu') else ''}\t\t{m}.so" for m in modules
        )
        config = CONFIG.format(
            sip_port=self.sip_port, rtp_low=self.rtp_low, rtp_high=self.rtp_low + 20, modules=lines
        )
        if tls_ca is not None:
            config += f"sip_cafile\t\t{tls_ca}\n"
        (self.dir / "config").write_text(config)
        transport = ";transport=tls" if tls_ca is not None else ""
        params = f";auth_pass={password};regint=60;answermode=auto;audio_codecs=PCMU"
        if mediaenc:
            params += f";mediaenc={mediaenc}"
        (self.dir / "accounts").write_text(
            f"<sip:{user}@127.0.0.1:{server_port}{transport}>{params}\n"
        )
        (self.dir / "contacts").write_text("")
        self.log_path = self.dir / "baresip.log"
        self._log = self.log_path.open("w")
        binary = shutil.which("baresip")
        if binary is None:
            pytest.fail("baresip is not installed: apt-get install baresip-core")
        self.proc = subprocess.Popen(
            [
                binary,
                "-f",
                str(self.dir),
                "-t",
                str(lifetime),
                "-s",
                *(arg for command in commands for arg in ("-e", command)),
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.dir,
        )
        STARTED.append(self.proc)  # type: ignore[arg-type]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM our baresip by its pid (it un-registers), SIGKILL if it hangs."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()
        return self.proc.returncode
