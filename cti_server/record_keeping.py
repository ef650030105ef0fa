"""Where call records go: the durable writer behind the call-record fold, and the statistics
API that reads them back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cti_server.config import Config


def build_record_writer(config: Config, reactor: Any, webhooks: Any = None) -> Any:
    """Call records, queue events and agent states: journalled at once, group-committed to
    SQL every 100 ms, replayed after a crash or a database outage."""
    from cti_server.adapters.record_writer import RecordWriter
    from cti_server.storage import Database
    from cti_server.storage.journal import Journal
    from cti_server.storage.record_repos import commit_entries

    database = Database.from_config(config)
    journal = Journal(Path(config.data_dir) / "journal")

    def commit(entries: Any) -> Any:
        return commit_entries(database, entries)

    if webhooks is not None:  # call records also go to the CRM outbox, after each commit
        commit = webhooks.wrap_commit(commit)
    return RecordWriter(journal, commit, reactor)


def build_stats_resource(config: Config) -> Any:
    """``/api/v1/stats``: the period statistics of the stored call records."""
    from zoneinfo import ZoneInfo

    from cti_server.api.stats import StatsResource
    from cti_server.report_cli import from_stored
    from cti_server.storage import Database
    from cti_server.storage.bridge import run_in_loop
    from cti_server.storage.repos import CallRecordRepo

    repo = CallRecordRepo(Database.from_config(config).async_session)

    def load(since: Any, until: Any) -> Any:
        d = run_in_loop(repo.list_period(since, until))
        return d.addCallback(lambda rows: [from_stored(r) for r in rows])

    return StatsResource(load, ZoneInfo(config.timezone))
