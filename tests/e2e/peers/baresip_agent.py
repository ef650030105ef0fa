"""A headless baresip (Debian baresip-core 1.0.0) as an auto-answering agent softphone.

Configuration per stack.md §7: ``ausine`` only works at 48 kHz stereo, so the source is set
to that; ``aubridge`` is a null player; ``-f <dir>`` points at a private config directory
and ``-t <seconds>`` bounds the process even if the test forgets it. The account registers
against the server under test with digest authentication and ``answermode=auto``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import free_port

MODULES = ("g711", "ausine", "aufile", "aubridge", "account", "menu")

CONFIG = """\
poll_method		epoll
sip_listen		127.0.0.1:{sip_port}
call_local_timeout	30
audio_player		aubridge,null
audio_source		ausine,440
audio_alert		aubridge,null
ausrc_srate		48000
ausrc_channels		2
rtp_ports		{rtp_low}-{rtp_high}
rtp_timeout		0
module_path		/usr/lib/baresip/modules
{modules}
"""


class BaresipAgent:
    def __init__(
        self, workdir: Path, server_port: int, user: str, password: str, lifetime: int = 30
    ) -> None:
        self.dir = workdir / f"baresip_{user}"
        self.dir.mkdir()
        self.sip_port = free_port()
        rtp_low = free_port() & ~1
        modules = "\n".join(
            f"module{'_app' if m in ('account', 'menu') else ''}\t\t{m}.so" for m in MODULES
        )
        (self.dir / "config").write_text(
            CONFIG.format(
                sip_port=self.sip_port, rtp_low=rtp_low, rtp_high=rtp_low + 20, modules=modules
            )
        )
        (self.dir / "accounts").write_text(
            f"<sip:{user}@127.0.0.1:{server_port}>;auth_pass={password};regint=60;"
            "answermode=auto;audio_codecs=PCMU\n"
        )
        (self.dir / "contacts").write_text("")
        self.log_path = self.dir / "baresip.log"
        self._log = self.log_path.open("w")
        binary = shutil.which("baresip")
        if binary is None:
            pytest.fail(
                "baresip is not installed: apt-get install -y --no-install-recommends baresip-core"
            )
        self.proc = subprocess.Popen(
            [binary, "-f", str(self.dir), "-t", str(lifetime)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.dir,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        """Terminate our baresip (SIGTERM to its pid, then SIGKILL) and return its status."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()
        return self.proc.returncode
