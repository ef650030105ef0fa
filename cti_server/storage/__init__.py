"""SQL storage (DESIGN.md §3): SQLite in data_dir by default, PostgreSQL by URL.

``Database`` holds the sync engine (CLI, migrations, start-up) and the async engine (the
running server); ``migrations.upgrade`` brings the schema to head; the repositories are async
and reached from Twisted through ``run_in_loop``.
"""

from cti_server.storage.bridge import await_deferred, run_in_loop
from cti_server.storage.db import Database, StorageUrlError, async_url, configured_url, sync_url
from cti_server.storage.repos import (
    AccountRepo,
    CallRecord,
    CallRecordRepo,
    Recording,
    RecordingRepo,
    RecordNotFound,
    SipAccount,
)
from cti_server.storage.tables import RecordingStatus

__all__ = [
    "AccountRepo",
    "CallRecord",
    "CallRecordRepo",
    "Database",
    "RecordNotFound",
    "Recording",
    "RecordingRepo",
    "RecordingStatus",
    "SipAccount",
    "StorageUrlError",
    "async_url",
    "await_deferred",
    "configured_url",
    "run_in_loop",
    "sync_url",
]
