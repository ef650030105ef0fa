"""A campaign's call list from CSV: checked row by row, stored in batches, rejects reported.

Columns (header line required, names case-insensitive, any order): ``number`` (required),
``name``, ``customer_id``, ``time_zone`` (IANA, e.g. Asia/Seoul); Korean headers 전화번호,
이름, 고객번호 and 시간대 mean the same. Every other column goes into the lead's ``extra``
(shown to the agent, exported back).

A bad row (no number or a number that cannot be dialled, a number twice in the file or
already in the campaign, an unknown time zone, a number on the do-not-call list) is rejected
with its line number and reason, and the rest goes on: one wrong cell in 50,000 rows should
not mean starting over. The rejects are written to a CSV (line, reason, the original cells)
that can be fixed in a spreadsheet and imported again. Rows are committed ~500 per
transaction. Files from Excel in Korea are often CP949 rather than UTF-8: both are read.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from acd.dialer_state import MAX_DIGITS, MIN_DIGITS
from cti_server.storage.campaigns import CampaignNotFound, DncRepo
from cti_server.storage.customer_records import Instant, utc
from cti_server.storage.db import Database
from cti_server.storage.tables_campaigns import CampaignRow, LeadRow, LeadStatus
from ivr_flows.auth import normalize_number

COLUMNS = ("number", "name", "customer_id", "time_zone")
ALIASES = {
    "전화번호": "number",
    "연락처": "number",
    "phone": "number",
    "이름": "name",
    "고객명": "name",
    "고객번호": "customer_id",
    "시간대": "time_zone",
    "timezone": "time_zone",
}
BATCH_SIZE = 500
ENCODINGS = ("utf-8-sig", "cp949")

Progress = Callable[[int, int], None]


class ImportFileError(Exception):
    """The file cannot be read as a call list (missing, undecodable, no number column)."""


@dataclass(frozen=True, slots=True)
class Rejection:
    row: int  # line in the file; the header is line 1, as a spreadsheet numbers rows
    reason: str
    cells: tuple[str, ...]  # the row as it was in the file


@dataclass(frozen=True, slots=True)
class LeadFile:
    """A decoded, parsed CSV: ``header`` as written, ``rows`` as (line, cells); ``path`` is
    None for an upload (:func:`read_lead_bytes`), which gets no reject report beside it."""

    path: Path | None
    encoding: str
    header: tuple[str, ...]
    rows: tuple[tuple[int, tuple[str, ...]], ...]


@dataclass(frozen=True, slots=True)
class LeadImportReport:
    total: int
    imported: int
    rejected: tuple[Rejection, ...] = ()
    report_path: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.rejected


def _decode(path: Path) -> tuple[str, str]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportFileError(f"{path}: {exc.strerror or exc}") from exc
    return _decode_bytes(data, str(path))


def _decode_bytes(data: bytes, source: str) -> tuple[str, str]:
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise ImportFileError(f"{source}: neither UTF-8 nor CP949 (EUC-KR) text")


def _canonical(name: str) -> str:
    key = name.strip().lower()
    return ALIASES.get(key, key)


def read_lead_file(path: str | Path) -> LeadFile:
    """Read and parse the whole file, so a file that cannot be used fails before anything
    (the campaign included) is created."""
    source = Path(path)
    text, encoding = _decode(source)
    return _parse(text, encoding, source, str(source))


def read_lead_bytes(data: bytes, source: str = "CSV") -> LeadFile:
    """An uploaded call list (the API), checked as :func:`read_lead_file` checks a file;
    ``source`` names it in the errors."""
    text, encoding = _decode_bytes(data, source)
    return _parse(text, encoding, None, source)


def _parse(text: str, encoding: str, path: Path | None, source: str) -> LeadFile:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = tuple(h.strip() for h in next(reader, []))
        rows = []
        for cells in reader:
            if any(c.strip() for c in cells):
                rows.append((reader.line_num, tuple(cells)))
    except csv.Error as exc:
        raise ImportFileError(f"{source}: line {reader.line_num}: {exc}") from exc
    names = [_canonical(h) for h in header]
    if "number" not in names:
        raise ImportFileError(
            f"{source}: the header line has no 'number' column (found: {', '.join(header)})"
        )
    twice = sorted({n for n in names if n and names.count(n) > 1})
    if twice:
        raise ImportFileError(f"{source}: column(s) named twice in the header: {', '.join(twice)}")
    if any(not n for n in names):
        raise ImportFileError(f"{source}: the header line has an empty column name")
    return LeadFile(path, encoding, header, tuple(rows))


def valid_zone(value: str) -> bool:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


class _Importer:
    def __init__(self, database: Database, campaign: str, lead_file: LeadFile, now: datetime):
        self.database = database
        self.campaign = campaign
        self.now = now
        self.names = [_canonical(h) for h in lead_file.header]
        self.dnc = DncRepo(database)
        self.rejected: list[Rejection] = []
        self.imported = 0
        self.seen: dict[str, int] = {}  # normalised number -> the line it first appeared on

    def batch(self, rows: Sequence[tuple[int, tuple[str, ...]]]) -> None:
        candidates: list[tuple[int, tuple[str, ...], dict[str, Any]]] = []
        for line, cells in rows:
            values = self._check(line, cells)
            if values is not None:
                candidates.append((line, cells, values))
        candidates = self._not_blocked(candidates)
        self._insert(candidates)

    def _check(self, line: int, cells: tuple[str, ...]) -> dict[str, Any] | None:
        """The row as a ``leads`` insert, or None (rejected with the first problem)."""
        record = dict(zip(self.names, (c.strip() for c in cells), strict=False))
        number = normalize_number(record.get("number", ""))
        zone = record.get("time_zone") or None
        reason = self._problem(cells, record, number, zone)
        if reason is not None:
            self._reject(line, cells, reason)
            return None
        self.seen[number] = line
        return {
            "campaign": self.campaign,
            "number": number,
            "name": record.get("name", ""),
            "customer_id": record.get("customer_id") or None,
            "time_zone": zone,
            "status": LeadStatus.PENDING.value,
            "attempts": 0,
            "due_at": self.now,
            "extra": {k: v for k, v in record.items() if k not in COLUMNS},
        }

    def _problem(
        self, cells: tuple[str, ...], record: dict[str, str], number: str, zone: str | None
    ) -> str | None:
        raw = record.get("number", "")
        if len(cells) > len(self.names):
            return f"{len(cells)} cells, more than the header's {len(self.names)} columns"
        if not raw:
            return "number: missing"
        if not MIN_DIGITS <= len(number) <= MAX_DIGITS:
            return f"number: {raw!r} is not a phone number ({MIN_DIGITS}-{MAX_DIGITS} digits)"
        if zone is not None and not valid_zone(zone):
            return f"time_zone: unknown time zone {zone!r}"
        if number in self.seen:
            return f"number: duplicate of row {self.seen[number]}"
        return None

    def _reject(self, line: int, cells: tuple[str, ...], reason: str) -> None:
        self.rejected.append(Rejection(line, reason, cells))

    def _not_blocked(
        self, candidates: list[tuple[int, tuple[str, ...], dict[str, Any]]]
    ) -> list[tuple[int, tuple[str, ...], dict[str, Any]]]:
        numbers = [values["number"] for _, _, values in candidates]
        if not numbers:
            return []
        blocked = self.dnc.listed(numbers)
        with Session(self.database.sync_engine) as session:
            present = set(
                session.scalars(
                    select(LeadRow.number).where(
                        LeadRow.campaign == self.campaign, LeadRow.number.in_(numbers)
                    )
                )
            )
        fresh = []
        for line, cells, values in candidates:
            if values["number"] in blocked:
                self._reject(line, cells, "number: on the do-not-call list")
            elif values["number"] in present:
                self._reject(line, cells, "number: already in this campaign")
            else:
                fresh.append((line, cells, values))
        return fresh

    def _insert(self, candidates: list[tuple[int, tuple[str, ...], dict[str, Any]]]) -> None:
        """One transaction per batch; if someone added a clashing lead meanwhile, row by
        row so only the clashing rows are rejected."""
        if not candidates:
            return
        engine = self.database.sync_engine
        try:
            with engine.begin() as conn:
                conn.execute(insert(LeadRow), [values for _, _, values in candidates])
            self.imported += len(candidates)
            return
        except IntegrityError:
            pass
        for line, cells, values in candidates:
            try:
                with engine.begin() as conn:
                    conn.execute(insert(LeadRow), [values])
                self.imported += 1
            except IntegrityError:
                self._reject(line, cells, "number: already in this campaign")


def _chunks(
    items: Sequence[tuple[int, tuple[str, ...]]], size: int
) -> Iterator[Sequence[tuple[int, tuple[str, ...]]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def reject_report_path(source: Path) -> Path:
    """Beside the input: ``leads.csv`` → ``leads.rejected.csv``."""
    return source.with_name(f"{source.stem}.rejected.csv")


def write_reject_report(path: Path, header: Sequence[str], rejected: Sequence[Rejection]) -> None:
    """``row, reason`` then the original columns; UTF-8 with a BOM so Excel shows Korean."""
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["row", "reason", *header])
        for r in rejected:
            writer.writerow([r.row, r.reason, *r.cells])


def import_leads(
    database: Database,
    campaign: str,
    source: str | Path | LeadFile,
    *,
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
    now: Instant | None = None,
    report_path: Path | None = None,
) -> LeadImportReport:
    """Add the rows of ``source`` to ``campaign`` as pending leads due at ``now``.

    Raises :class:`ImportFileError` only when the file as a whole is unusable.
    ``progress(done, total)`` is called after each batch (rows, not bytes). When rows are
    rejected, the report goes to ``report_path`` (default: beside the file; none for an
    upload without ``report_path``).
    """
    lead_file = source if isinstance(source, LeadFile) else read_lead_file(source)
    with Session(database.sync_engine) as session:
        if session.get(CampaignRow, campaign) is None:
            raise CampaignNotFound(campaign)
    at = utc(now if now is not None else datetime.now(UTC))
    importer = _Importer(database, campaign, lead_file, at)
    total, done = len(lead_file.rows), 0
    if progress is not None:
        progress(0, total)
    for chunk in _chunks(lead_file.rows, max(batch_size, 1)):
        importer.batch(chunk)
        done += len(chunk)
        if progress is not None:
            progress(done, total)
    rejected = tuple(sorted(importer.rejected, key=lambda r: r.row))
    written = report_path
    if written is None and lead_file.path is not None:
        written = reject_report_path(lead_file.path)
    if not rejected:
        written = None
    elif written is not None:
        write_reject_report(written, lead_file.header, rejected)
    return LeadImportReport(total, importer.imported, rejected, written)
