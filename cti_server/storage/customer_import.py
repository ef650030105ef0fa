"""Bulk import of customers from CSV, as exported from the CRM or a spreadsheet.

Columns (header row, any order, names case-insensitive): ``customer_number, name, phone,
email, vip, segment, language, assigned_agent, pin, national_id``; only the first two are
required. PINs are scrypt-hashed and national IDs keyed-hashed and masked before anything is
stored; a rejection reason never repeats a PIN or a national ID.

A bad row is rejected with its line number and the reason, and the rest goes on: one wrong
cell in 50,000 rows should not mean starting over. Rows are committed in batches, and PINs
are hashed on every core (``hashlib.scrypt`` releases the GIL), since at ~50 ms a hash the
hashing, not the database, is what an import waits for.

Files from Excel in Korea are often CP949 rather than UTF-8: both are read.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cti_server.storage.customers import CustomerDirectory, CustomerError, Instant, utc
from cti_server.storage.tables import CustomerRow
from ivr_flows.auth import valid_pin

COLUMNS = (
    "customer_number",
    "name",
    "phone",
    "email",
    "vip",
    "segment",
    "language",
    "assigned_agent",
    "pin",
    "national_id",
)
REQUIRED = ("customer_number", "name")
BATCH_SIZE = 500
ENCODINGS = ("utf-8-sig", "cp949")
_TRUE = {"1", "true", "yes", "y", "t", "vip", "예", "o"}
_FALSE = {"", "0", "false", "no", "n", "f", "아니오", "아니요", "x"}

Progress = Callable[[int, int], None]


class ImportFileError(Exception):
    """The file cannot be read as a customer CSV (missing, undecodable, no usable header)."""


@dataclass(frozen=True, slots=True)
class Rejection:
    row: int  # line in the file; the header is line 1, as a spreadsheet numbers rows
    customer_number: str
    reason: str


@dataclass(frozen=True, slots=True)
class ImportReport:
    total: int
    imported: int
    rejected: tuple[Rejection, ...] = ()
    ignored_columns: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.rejected


@dataclass(slots=True)
class _Candidate:
    line: int
    row: CustomerRow
    pin: str | None


def _decode(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportFileError(f"{path}: {exc.strerror or exc}") from exc
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFileError(f"{path}: neither UTF-8 nor CP949 text")


def _read(path: Path) -> tuple[list[tuple[int, dict[str, str]]], tuple[str, ...]]:
    reader = csv.DictReader(io.StringIO(_decode(path), newline=""))
    try:
        header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise ImportFileError(f"{path}: {exc}") from exc
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ImportFileError(f"{path}: no {', '.join(missing)} column in the header line")
    reader.fieldnames = header
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for raw in reader:
            cells = {k: (v or "").strip() for k, v in raw.items() if isinstance(k, str)}
            rows.append((reader.line_num, cells))
    except csv.Error as exc:
        raise ImportFileError(f"{path}: line {reader.line_num}: {exc}") from exc
    return rows, tuple(h for h in header if h not in COLUMNS)


def _vip(value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise CustomerError(f"vip: {value!r} is not yes/no (1/0, true/false, Y/N)")


def _candidate(
    directory: CustomerDirectory, line: int, cells: dict[str, str], now: datetime
) -> _Candidate:
    pin = cells.get("pin") or None
    if pin is not None and not valid_pin(pin):
        raise CustomerError("pin: must be 4 to 8 digits")
    email = cells.get("email") or None
    if email is not None and "@" not in email:
        raise CustomerError("email: not an e-mail address")
    language = cells.get("language") or None
    if language is not None and not (language.isascii() and language.replace("-", "").isalpha()):
        raise CustomerError(f"language: {language!r} is not a language code such as ko or en")
    row = directory.new_customer_row(
        customer_number=cells.get("customer_number", ""),
        name=cells.get("name", ""),
        now=now,
        phone=cells.get("phone") or None,
        email=email,
        vip=_vip(cells.get("vip", "")),
        segment=cells.get("segment", ""),
        language=language,
        assigned_agent=cells.get("assigned_agent") or None,
        national_id=cells.get("national_id") or None,
    )
    return _Candidate(line, row, pin)


def _chunks(
    items: Sequence[tuple[int, dict[str, str]]], size: int
) -> Iterator[Sequence[tuple[int, dict[str, str]]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _Importer:
    def __init__(self, directory: CustomerDirectory, now: datetime, pool: ThreadPoolExecutor):
        self.directory = directory
        self.now = now
        self.pool = pool
        self.rejected: list[Rejection] = []
        self.imported = 0
        self.numbers: dict[str, int] = {}  # customer number -> line it first appeared on
        self.national_ids: dict[str, int] = {}

    def reject(self, line: int, number: str, reason: str) -> None:
        self.rejected.append(Rejection(line, number, reason))

    def batch(self, rows: Sequence[tuple[int, dict[str, str]]]) -> None:
        candidates = [c for c in (self._check(line, cells) for line, cells in rows) if c]
        candidates = self._not_in_database(candidates)
        hashes = self.pool.map(
            lambda c: None if c.pin is None else self.directory.hash_pin(c.pin), candidates
        )
        for candidate, pin_hash in zip(candidates, hashes, strict=True):
            candidate.row.pin_hash = pin_hash
        self._insert(candidates)

    def _check(self, line: int, cells: dict[str, str]) -> _Candidate | None:
        number = cells.get("customer_number", "")
        try:
            candidate = _candidate(self.directory, line, cells, self.now)
        except CustomerError as exc:
            self.reject(line, number, str(exc))
            return None
        row = candidate.row
        if row.customer_number in self.numbers:
            first = self.numbers[row.customer_number]
            self.reject(line, number, f"customer_number: duplicate of row {first}")
            return None
        if row.national_id_hash is not None and row.national_id_hash in self.national_ids:
            first = self.national_ids[row.national_id_hash]
            self.reject(line, number, f"national_id: same as row {first}")
            return None
        self.numbers[row.customer_number] = line
        if row.national_id_hash is not None:
            self.national_ids[row.national_id_hash] = line
        return candidate

    def _not_in_database(self, candidates: list[_Candidate]) -> list[_Candidate]:
        if not candidates:
            return []
        numbers = [c.row.customer_number for c in candidates]
        digests = [c.row.national_id_hash for c in candidates if c.row.national_id_hash]
        with Session(self.directory.database.sync_engine) as session:
            taken_numbers = set(
                session.scalars(
                    select(CustomerRow.customer_number).where(
                        CustomerRow.customer_number.in_(numbers)
                    )
                )
            )
            taken_ids = set(
                session.scalars(
                    select(CustomerRow.national_id_hash).where(
                        CustomerRow.national_id_hash.in_(digests)
                    )
                )
            )
        fresh = []
        for c in candidates:
            if c.row.customer_number in taken_numbers:
                self.reject(c.line, c.row.customer_number, "customer_number: exists already")
            elif c.row.national_id_hash in taken_ids:
                self.reject(c.line, c.row.customer_number, "national_id: another customer has it")
            else:
                fresh.append(c)
        return fresh

    def _insert(self, candidates: list[_Candidate]) -> None:
        """One transaction per batch; if someone else inserted a clashing customer meanwhile,
        row by row so only the clashing rows are rejected."""
        engine = self.directory.database.sync_engine
        try:
            with Session(engine) as session, session.begin():
                session.add_all([c.row for c in candidates])
            self.imported += len(candidates)
            return
        except IntegrityError:
            pass
        for c in candidates:
            try:
                with Session(engine) as session, session.begin():
                    session.add(c.row)  # transient again: the failed batch's rollback expunged it
                self.imported += 1
            except IntegrityError:
                self.reject(c.line, c.row.customer_number, "conflicts with an existing customer")


def import_customers(
    directory: CustomerDirectory,
    csv_path: str | Path,
    *,
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
    now: Instant | None = None,
    workers: int | None = None,
) -> ImportReport:
    """Import ``csv_path``; raises :class:`ImportFileError` only when the file as a whole is
    unusable. ``progress(done, total)`` is called after each batch (rows, not bytes)."""
    rows, ignored = _read(Path(csv_path))
    total = len(rows)
    at = utc(now if now is not None else datetime.now(UTC))
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        importer = _Importer(directory, at, pool)
        done = 0
        if progress is not None:
            progress(0, total)
        for chunk in _chunks(rows, batch_size):
            importer.batch(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
    rejected = tuple(sorted(importer.rejected, key=lambda r: r.row))
    return ImportReport(total, importer.imported, rejected, ignored)
