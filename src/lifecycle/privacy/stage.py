"""The privacy stage of a run: erasure requests applied to every store, retention, and a rewrite of the
warehouse so that what was removed is not left in its free blocks.

What a run removes is gone from every table at once; the warehouse's free blocks, which no query reads,
are cleared by rewriting the whole file once the oldest removal not yet cleared is ``purge_days`` old
(``LIFECYCLE_PURGE_DAYS``), and at least every ``compact_days`` (``LIFECYCLE_COMPACT_DAYS``), which also
compacts the rows dbt's incremental models deleted (dbt runs without DuckDB's vacuum). The copies
readers hold (the current publication, its exports, the lake) are rewritten at once; publications
that are no longer current are removed instead (``publish.remove_superseded``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from lifecycle.config import Settings
from lifecycle.errors import LifecycleError
from lifecycle.ingest.lake import export_snapshot, rewrite_batches, sync_batches
from lifecycle.pii import ensure_salt
from lifecycle.privacy.classification import contact_data_sql, personal_columns, tagged_columns
from lifecycle.privacy.redaction import Erasure, redact_catalog, redact_table
from lifecycle.privacy.requests import erased_customers, log_change, pending_customers, record_source_deletes
from lifecycle.privacy.retention import every_version_tables, expire, old_batches
from lifecycle.privacy.stores import LAKE, STORES, raw_batches_to_redact, redact_store
from lifecycle.storage import (
    connect_warehouse,
    ensure_raw_bookkeeping,
    quote_ident,
    quote_literal,
    rewrite_database,
    write_atomic,
)


@dataclass
class PrivacyReport:
    new_requests: int = 0
    applied: int = 0
    redacted: dict[str, int] = field(default_factory=dict)
    expired: dict[str, int] = field(default_factory=dict)
    #: Rows removed from the Parquet lake's files per raw table (retention reaching the lake).
    lake_expired: dict[str, int] = field(default_factory=dict)
    free_text_contacts: int = 0
    #: Publications other than the current one, removed by an erasure instead of redacted.
    removed_publications: list[str] = field(default_factory=list)
    sizes: tuple[int, int] | None = None
    #: When the warehouse holds removed values in free blocks: the as-of by which it is rewritten.
    purge_due: dt.datetime | None = None
    #: Why the warehouse file was rewritten (``sizes``): the purge or the periodic compaction.
    rewrite_reason: str | None = None

    def summary(self) -> str:
        parts = [
            f"{self.new_requests} new erasure request(s), {self.applied} applied",
            f"{sum(self.redacted.values())} value(s) redacted",
            f"{sum(self.expired.values())} row(s) past retention deleted",
            f"{self.free_text_contacts} free-text value(s) with contact data (redacted at staging)",
        ]
        if self.removed_publications:
            parts.append(f"{len(self.removed_publications)} superseded publication(s) removed")
        if self.lake_expired:
            parts.append(f"{sum(self.lake_expired.values())} row(s) removed from the Parquet lake")
        if self.sizes:
            parts.append(
                f"warehouse file rewritten ({self.rewrite_reason}):"
                f" {self.sizes[0] / 1e6:.1f} → {self.sizes[1] / 1e6:.1f} MB"
            )
        elif self.purge_due:
            parts.append(f"warehouse file rewritten by {self.purge_due:%Y-%m-%d} (LIFECYCLE_PURGE_DAYS)")
        return "; ".join(parts)


def apply_privacy(
    settings: Settings, *, as_of: dt.datetime, progress: Callable[[str], None] = lambda _: None
) -> PrivacyReport:
    """Apply erasure requests to every store and retention to raw and the Parquet lake; rewrite the
    warehouse if it changed."""
    report = PrivacyReport()
    if not settings.warehouse_path.exists():
        return report
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    personal = frozenset(personal_columns(settings.project_dir))
    with connect_warehouse(settings) as con:
        ensure_raw_bookkeeping(con)
        has_customers = _exists(con, "raw", "app_customers")
        if has_customers:
            report.new_requests = record_source_deletes(con, now)
        everyone, pending = erased_customers(con), pending_customers(con)
        identifiers = _identifiers(con, pending, settings) if pending and has_customers else ()
        report.free_text_contacts = _free_text_contacts(con, settings, as_of)
        erasure = Erasure(tuple(everyone), identifiers, personal)
        # Raw names the batches to redact (an erased customer's later changes land in new batches every
        # run). They are recorded before any store changes: once raw is redacted they could not be found
        # again, and a run that stops before the lake has followed is finished by the next.
        batches = _merge(_pending_batches(settings), raw_batches_to_redact(con, erasure))
        _record_pending_batches(settings, batches)
    # Copies outside the warehouse first, the raw tables last: until raw is redacted a failed run can be
    # rerun, because the identifiers that the other stores are searched for are still found there.
    if pending:
        # Imported here: publishing imports this package's classification of personal columns.
        from lifecycle.publish import remove_superseded

        report.removed_publications = remove_superseded(settings)
        if report.removed_publications:
            progress(
                f"privacy: {len(report.removed_publications)} superseded publication(s) removed rather than"
                " redacted"
            )
        for store in STORES:
            if store is LAKE:
                continue  # written again from raw below
            rows = redact_store(settings, store, erasure)
            if rows:
                report.redacted[store.name] = rows
                progress(f"privacy: {store.name}: {rows} redacted")
    with connect_warehouse(settings) as con:
        changed = redact_catalog(con, "warehouse", erasure, skip_schemas=("raw",))
        changed.update(redact_records(con, erasure))
        for table, ids in batches.items():
            within = "_batch_id in (" + ", ".join(quote_literal(batch) for batch in ids) + ")"
            if rows := redact_table(con, "warehouse", "raw", table, erasure, within=within):
                changed[f"raw.{table}"] = rows
        if batches:
            con.execute("checkpoint")  # the lake is written from what raw has committed
            if files := rewrite_batches(con, settings.lake_dir, batches):
                rows = sum(changed.get(f"raw.{table}", 0) for table in batches)
                report.redacted[LAKE.name] = rows
                progress(f"privacy: {LAKE.name}: {rows} redacted ({files} batch file(s) from raw)")
            _record_pending_batches(settings, {})
        for relation, rows in changed.items():
            log_change(con, "erasure", relation, rows, now)
        report.redacted.update(changed)
        if pending:
            con.execute(
                "update raw._erasure_requests set erased_at = ?"
                f" where customer_id in ({', '.join(map(str, pending))})",
                [now],
            )
            report.applied = len(pending)
        if report.new_requests or pending:
            # The lake's copy of the log, which a Spark build reads as the source privacy.erasure_requests.
            export_snapshot(con, settings.lake_dir, "_erasure_requests")
        cutoff = as_of - dt.timedelta(days=settings.retention_days)
        report.expired = expire(
            con,
            cutoff,
            settings.build_state_dir / "manifest.json",
            keep_every_version=every_version_tables(settings.project_dir),
        )
        for relation, rows in report.expired.items():
            log_change(con, "retention", relation, rows, now)
        # The lake follows once raw's deletes are committed. Every run compares all old batches, not only
        # those expired now, so a run that stopped between the two is healed here by the next one.
        report.lake_expired = sync_batches(con, settings.lake_dir, old_batches(con, cutoff))
        for table, rows in report.lake_expired.items():
            log_change(con, "retention", f"lake/raw/{table}", rows, now)
        con.execute("checkpoint")
    since = _unpurged_since(settings)
    if (changed or report.expired or pending) and (since is None or as_of < since):
        since = as_of  # a run replaying an earlier day brings the rewrite forward, never back
        _record_unpurged(settings, since)
    if since is not None:
        report.purge_due = since + dt.timedelta(days=settings.purge_days)
    compacted = _compacted_at(settings)
    if compacted is None or as_of < compacted:
        compacted = as_of  # the first run starts the period; a replayed earlier day starts it again
        _write_record(_compacted_path(settings), {"as_of": as_of.isoformat()})
    purge = report.purge_due is not None and as_of >= report.purge_due
    if purge or as_of >= compacted + dt.timedelta(days=settings.compact_days):
        # One rewrite does both: the fresh file holds neither removed values nor deleted rows.
        report.rewrite_reason = "purge" if purge else "compaction (LIFECYCLE_COMPACT_DAYS)"
        report.sizes = rewrite_database(settings.warehouse_path, settings=settings)
        _write_record(_compacted_path(settings), {"as_of": as_of.isoformat()})
        _record_unpurged(settings, None)
        report.purge_due = None
    return report


def _compacted_path(settings: Settings) -> Path:
    return settings.state_dir / "warehouse_compacted.json"


def _compacted_at(settings: Settings) -> dt.datetime | None:
    """The as-of of the warehouse file's last rewrite (purge or compaction); None before the first run.

    No connection runs DuckDB's vacuum (``storage.duckdb_config``, profiles.yml), so the rows that
    incremental models delete stay in their row groups, skipped by every read, until the file is
    rewritten; the rewrite every ``compact_days`` bounds them to that many days of a model's deletes."""
    return _recorded_instant(_compacted_path(settings), "as_of")


def _unpurged_path(settings: Settings) -> Path:
    return settings.state_dir / "privacy_unpurged.json"


def _unpurged_since(settings: Settings) -> dt.datetime | None:
    """The as-of of the oldest removal whose values may still sit in the warehouse's free blocks."""
    return _recorded_instant(_unpurged_path(settings), "since")


def _recorded_instant(path: Path, key: str) -> dt.datetime | None:
    """The instant under ``key`` in the state record at ``path``; None without the record.

    An unreadable record reads as the earliest instant, so the next run rewrites the warehouse file and
    records it again."""
    if not path.exists():
        return None
    try:
        return dt.datetime.fromisoformat(json.loads(path.read_text())[key])
    except (ValueError, KeyError, TypeError):
        return dt.datetime.min


def _record_unpurged(settings: Settings, since: dt.datetime | None) -> None:
    _write_record(_unpurged_path(settings), {"since": since.isoformat()} if since else None)


def _pending_batches_path(settings: Settings) -> Path:
    return settings.state_dir / "privacy_batches.json"


def _pending_batches(settings: Settings) -> dict[str, list[str]]:
    """Raw batches an earlier run found to redact whose lake files may not have been written again yet."""
    path = _pending_batches_path(settings)
    if not path.exists():
        return {}
    try:
        recorded = json.loads(path.read_text())
        return {str(table): [str(b) for b in ids] for table, ids in recorded.items()}
    except (ValueError, AttributeError, TypeError) as error:
        raise LifecycleError(
            f"{path}: unreadable ({error}); it lists raw batches whose lake files must be written again."
            " Restore it, or delete it and rewrite the lake from raw (delete lake/raw and run `lifecycle"
            " ingest`)"
        ) from error


def _record_pending_batches(settings: Settings, batches: dict[str, list[str]]) -> None:
    _write_record(_pending_batches_path(settings), batches or None)


def _write_record(path: Path, record: dict[str, Any] | None) -> None:
    """Replace the stage's JSON record at ``path`` (on disk before the rename), or remove it (None)."""
    if record is None:
        path.unlink(missing_ok=True)
        return
    write_atomic(path, json.dumps(record, sort_keys=True))


def _merge(*found: dict[str, list[str]]) -> dict[str, list[str]]:
    merged: dict[str, set[str]] = {}
    for batches in found:
        for table, ids in batches.items():
            merged.setdefault(table, set()).update(ids)
    return {table: sorted(ids) for table, ids in sorted(merged.items())}


#: The free text of raw's bookkeeping tables, which can quote what a source sent or what an operator
#: typed: a rejected line kept whole and why, a load's error, a request's reason. Their other columns are
#: the pipeline's own state (watermarks, batch ids, file paths and checksums), which a replaced substring
#: would corrupt (a changed path makes a file look new, and it is loaded again).
RECORD_TEXT = {
    "_quarantine": ("raw_text", "reason"),
    "_ingest_log": ("error",),
    "_erasure_requests": ("reason",),
}


def redact_records(con: duckdb.DuckDBPyConnection, erasure: Erasure) -> dict[str, int]:
    """Apply the erasure to the free text of raw's bookkeeping tables (``RECORD_TEXT``, made by
    ``storage.ensure_raw_bookkeeping``), whole: they are small. Before raw's landed rows, whose redaction
    removes what the person's identifiers are found by."""
    changed = {}
    for table, columns in RECORD_TEXT.items():
        if rows := redact_table(con, "warehouse", "raw", table, erasure, only=columns):
            changed[f"raw.{table}"] = rows
    return changed


def _exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    row = con.execute(
        "select count(*) from duckdb_tables() where schema_name = ? and table_name = ?"
        " and database_name = current_database()",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


def _identifiers(
    con: duckdb.DuckDBPyConnection, customer_ids: list[int], settings: Settings
) -> tuple[str, ...]:
    """The values a person can be found by in text: every e-mail and phone they had, their full name, and
    the salted hashes of the e-mails and phones (as ``macros/hash_pii.sql`` makes them; they leave the
    platform as the CRM export's contact keys, so a source can send them back). Held in memory for this
    run only."""
    salt = ensure_salt(settings).read_text().strip(" \t\n\r")
    ids = ", ".join(map(str, customer_ids))
    rows = con.execute(
        f"""
        with person as (select * from raw.app_customers where customer_id in ({ids}))
        select distinct value from (
            select email as value from person
            union all select phone from person
            union all select first_name || ' ' || last_name from person
            union all select sha256(concat($salt, lower(trim(email)))) from person where email is not null
            union all select sha256(concat($salt, lower(trim(phone)))) from person where phone is not null
        )
        where value is not null
        """,
        {"salt": salt},
    ).fetchall()
    return tuple(sorted(str(r[0]) for r in rows))


def _free_text_contacts(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.datetime) -> int:
    """Values of the raw columns tagged ``free_text`` that hold contact data, in the batches landed for
    this as-of (not the whole history again on every run): staging redacts them."""
    total = 0
    for tag in tagged_columns(settings.project_dir):
        if tag.kind != "free_text" or not tag.relation.startswith("source:"):
            continue
        table = tag.relation.split(".", 1)[1]
        if not _exists(con, "raw", table):
            continue
        column = quote_ident(tag.column)
        row = con.execute(
            f"select count(*) from raw.{quote_ident(table)} where {contact_data_sql(column)}"
            " and _batch_id in (select batch_id from raw._ingest_log where as_of = ?)",
            [as_of],
        ).fetchone()
        total += int(row[0]) if row else 0
    return total
