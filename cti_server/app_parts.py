"""The parts ``build_app`` assembles that need a few lines of their own: the database's SIP
accounts, the recording service, the SIP sockets' buffers and the nonce key. Kept apart so the
composition root reads as one wiring function."""

from __future__ import annotations

import hashlib
import logging
import secrets
from pathlib import Path
from typing import Any

from cti_server.adapters.recording_service import RecordingService
from cti_server.adapters.retention_job import RetentionJob
from cti_server.call.switch import CallSwitch
from cti_server.config import Config
from cti_server.ids import IdFactory
from cti_server.sip.accounts import Account
from recording.recorder import Recorder
from recording.retention import RetentionPolicy
from recording.sink import RecordingSink

log = logging.getLogger("cti_server.app")


def load_database_accounts(config: Config) -> list[Account]:
    """Migrate the database to head and read the enabled SIP accounts (before the reactor
    runs: blocking here is fine). Accounts for another realm are skipped with a warning:
    an HA1 only proves a password for the realm it was made with."""
    from sqlalchemy import select
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.orm import Session

    from cti_server.storage import Database
    from cti_server.storage.migrations import upgrade
    from cti_server.storage.tables import SipAccountRow

    db = Database.from_config(config)
    try:
        upgrade(db.sync_engine)
        with Session(db.sync_engine) as session:
            rows = session.scalars(select(SipAccountRow).where(SipAccountRow.enabled)).all()
    except OperationalError as exc:  # the phones must keep working while the database is down
        log.error(
            "database %s unreachable (%s): serving the config's accounts only; "
            "IVR logins take their flows' error branch until it is back",
            db.display_url,
            exc.orig,
        )
        return []
    finally:
        db.dispose_sync()
    accounts = []
    for row in rows:
        if row.realm != config.sip.realm:
            log.warning(
                "account %s was made for realm %r, not %r: skipped",
                row.user,
                row.realm,
                config.sip.realm,
            )
            continue
        algos = tuple(row.digest_algorithms) if row.digest_algorithms else None
        accounts.append(Account(row.user, row.ha1_md5, row.ha1_sha256, row.display_name, algos))
    log.info("database %s: %d SIP accounts", db.display_url, len(accounts))
    return accounts


def recordings_dir(config: Config) -> Path:
    return Path(config.recording.directory or Path(config.data_dir) / "recordings")


def build_recording(
    config: Config, switch: CallSwitch, reactor: Any, ids: IdFactory
) -> RecordingService:
    from cti_server.storage import Database
    from cti_server.storage.recording_index import RecordingIndex
    from cti_server.storage.repos import RecordingRepo

    directory = recordings_dir(config)
    recorder = Recorder(
        lambda: ids.sequence("R"),
        str(directory),
        policies=config.recording.queue_policies,
        default_policy=config.recording.policy,
    )
    repo = RecordingRepo(Database.from_config(config).async_session)
    index = RecordingIndex(repo)
    service: RecordingService
    # Frames are batched per file for 100 ms: a third less writer CPU (GIL time the relay needs)
    sink = RecordingSink(
        on_closed=lambda closed: service.sink_closed(closed), min_batch_interval=0.1
    )
    service = RecordingService(recorder, sink, switch, reactor, reactor.callFromThread, index)
    service.repo = repo
    service.retention = RetentionJob(
        repo, RetentionPolicy(default_days=config.recording.retention_days), reactor
    )
    return service


def grow_buffers(sock: Any, size: int) -> None:
    """A burst of INVITEs must not overflow the kernel's default (~200 KB) UDP buffers:
    a dropped datagram costs a retransmission 500 ms later."""
    import socket

    for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, size)
        except OSError:
            log.warning("could not set a %d-byte socket buffer", size)


def nonce_secret(data_dir: Path) -> bytes:
    """A per-installation nonce key, so nonces survive a restart (no needless re-challenges)."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / "nonce.key"
        if not path.exists():
            path.write_bytes(secrets.token_bytes(32))
            path.chmod(0o600)
        return path.read_bytes()
    except OSError:
        return hashlib.sha256(secrets.token_bytes(32)).digest()
