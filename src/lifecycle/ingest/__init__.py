"""Ingestion: land the three source systems into the warehouse's append-only ``raw`` schema.

Each source loads independently: one that fails (unreadable file, breaking schema change) is logged and
reported, and the others still load. See README, "Ingestion".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb

from lifecycle.config import Settings
from lifecycle.errors import LifecycleError
from lifecycle.ingest.ads import load_ads
from lifecycle.ingest.app import load_app
from lifecycle.ingest.events import load_events
from lifecycle.ingest.lake import export_new_batches
from lifecycle.ingest.landing import Batch, ensure_ingest_log, log_failure
from lifecycle.observability import lineage
from lifecycle.storage import connect_warehouse, ensure_raw_bookkeeping


@dataclass
class SourceResult:
    source: str
    batches: list[Batch] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def rows(self) -> tuple[int, int, int]:
        return (
            sum(b.rows_read for b in self.batches),
            sum(b.rows_loaded for b in self.batches),
            sum(b.rows_quarantined for b in self.batches),
        )

    def summary(self) -> str:
        read, loaded, quarantined = self.rows
        status = "FAILED" if self.errors else "ok"
        line = (
            f"{self.source:<7} {status:<6} batches={len(self.batches):<3} read={read:<9} "
            f"loaded={loaded:<9} quarantined={quarantined}"
        )
        return "\n".join([line, *(f"        error: {e}" for e in self.errors)])


def ingest(
    settings: Settings,
    *,
    as_of: dt.datetime | None = None,
    full_refresh: bool = False,
    progress: Callable[[str], None] = lambda _: None,
) -> list[SourceResult]:
    """Land what is new in every source.

    ``as_of`` is the run's "now": files complete after it wait for a later run, and records stamped after
    it beyond the clock-skew tolerance are quarantined (reason ``future: …``). None judges no clock.

    A failed source is logged and reported in its result; the caller decides whether that stops the run
    (``lifecycle ingest`` exits non-zero, see ``raise_for_errors``).
    """
    sources = settings.sources_dir
    if not sources.exists():
        raise LifecycleError(f"no sources at {sources}: run `lifecycle generate` first")
    results = []
    with connect_warehouse(settings) as con:
        ensure_raw_bookkeeping(con)
        ensure_ingest_log(con)
        loaders: list[tuple[str, Callable[[], tuple[list[Batch], list[str]]]]] = [
            (
                "app",
                lambda: (_load_app(con, settings, as_of, full_refresh, progress), []),
            ),
            ("events", lambda: load_events(con, sources / "events", as_of=as_of)),
            ("ads", lambda: load_ads(con, sources / "ads", as_of=as_of)),
        ]
        for name, load in loaders:
            progress(f"ingest: {name} ...")
            result = SourceResult(name)
            with lineage.job(settings, f"ingest.{name}") as job:
                job.inputs.append(lineage.source_file(settings, SOURCE_PATHS[name]))
                try:
                    result.batches, result.errors = load()
                except LifecycleError as exc:
                    result.errors.append(str(exc))
                    log_failure(con, name, str(exc), as_of)
                job.outputs += [lineage.warehouse_table(settings, "raw", t) for t in _raw_tables(con, name)]
            results.append(result)
            progress(result.summary())
        # The lake follows raw: batches committed above (or by an earlier run that stopped before this
        # line) are written as Parquet for engines that do not read the DuckDB file.
        written = export_new_batches(con, settings.lake_dir)
        if written:
            progress("lake:   " + ", ".join(f"{table}+{n}" for table, n in sorted(written.items())))
    return results


#: Where each source's deliveries are, under the sources directory (the inputs of its ingestion).
SOURCE_PATHS = {"app": "app.sqlite", "events": "events", "ads": "ads"}


def _raw_tables(con: duckdb.DuckDBPyConnection, source: str) -> list[str]:
    """The raw tables a source lands (``raw.<source>_<entity>``; bookkeeping tables start with ``_``)."""
    rows = con.execute(
        "select table_name from duckdb_tables() where schema_name = 'raw' and starts_with(table_name, ?)"
        " order by table_name",
        [f"{source}_"],
    ).fetchall()
    return [str(r[0]) for r in rows]


def _load_app(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    as_of: dt.datetime | None,
    full_refresh: bool,
    progress: Callable[[str], None],
) -> list[Batch]:
    """The shop database: its PostgreSQL replication slot when configured, else the SQLite change log."""
    if settings.app_database_url:
        from lifecycle.ingest.postgres import load_from_slot

        return load_from_slot(con, settings, as_of=as_of, full_refresh=full_refresh, progress=progress)
    return load_app(con, settings.sources_dir / "app.sqlite", as_of=as_of, full_refresh=full_refresh)


def raise_for_errors(results: list[SourceResult]) -> None:
    failed = [e for r in results for e in r.errors]
    if failed:
        raise LifecycleError(
            f"ingest: {len(failed)} problem(s); the other sources were loaded. First: {failed[0]} "
            "(all errors: raw._ingest_log where status = 'failed')"
        )
