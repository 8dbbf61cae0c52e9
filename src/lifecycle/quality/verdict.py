"""Gate verdicts that travel with the build they judged, so publication can refuse anything unaudited.

A build is identified by what the gates looked at: a fingerprint of the marts' content (every published
table's columns, row count and a checksum of its rows) and one of the raw batches it was built from. Each
gate records its latest verdict with those fingerprints in ``state/verdicts.json``. ``publish`` recomputes
the marts' fingerprint and publishes only when the latest ``dbt build`` and ``validate`` verdicts both
passed on exactly that content, built from the raw data that ``validate`` audited. Whoever calls the
stages — ``lifecycle run``, a hand-typed sequence, a scheduler — gets the same rule.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from lifecycle.config import Settings
from lifecycle.errors import GateFailed, LifecycleError
from lifecycle.storage import connect_warehouse, one_row, quote_ident, write_atomic

#: The gates whose passing verdict on the current build publication requires.
REQUIRED_GATES = ("dbt build", "validate")
#: The early gate (raw batches before dbt). ``validate`` runs the raw suites again, so it is not required,
#: but a failure of it on the raw data of the build blocks publication like any other.
AUDIT_RAW = "audit raw"
#: The warehouse schema whose tables are published.
PUBLISHED_SCHEMA = "marts"


@dataclass(frozen=True)
class Build:
    """The identity of what the gates judge: fingerprints of the marts and of the landed raw batches."""

    marts: str
    raw: str
    #: The marts' tables and row counts, for messages and the publication record.
    tables: dict[str, int] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Verdict:
    gate: str
    passed: bool
    run_id: str
    judged_at: str
    marts: str | None
    raw: str
    #: The run's as-of (ISO timestamp): the instant the judged data is current at.
    as_of: str | None = None
    #: dbt's invocation id, for the ``dbt build`` gate: which artifacts belong to the build.
    dbt_invocation_id: str | None = None
    #: The checks that failed (names with a short reason), empty when the gate passed.
    failed: tuple[str, ...] = ()

    def describe(self) -> str:
        result = "passed" if self.passed else "failed: " + "; ".join(self.failed[:5])
        return f"{self.gate} ({self.run_id}, {self.judged_at}) {result}"


def marts_fingerprint(
    con: duckdb.DuckDBPyConnection, database: str | None = None
) -> tuple[str, dict[str, int]]:
    """A checksum of every published table's name, columns, types and rows (order-independent)."""
    fingerprint, digests = marts_digests(con, database)
    return fingerprint, {name: table.rows for name, table in digests.items()}


@dataclass(frozen=True)
class TableDigest:
    """One published table's row count and a checksum of its name, columns, types and rows."""

    rows: int
    digest: str


def marts_digests(
    con: duckdb.DuckDBPyConnection, database: str | None = None
) -> tuple[str, dict[str, TableDigest]]:
    """The marts' fingerprint (``marts_fingerprint``) and each table's own digest, from one read.

    Row checksums are summed, not XORed, so two identical rows do not cancel out. The fingerprint digests
    the tables' entries in name order; each table's digest is that of its entry alone, so publication can
    tell which tables changed without reading them again.
    """
    catalog = database or one_row(con, "select current_database()")[0]
    tables = con.execute(
        "select table_name from duckdb_tables()"
        " where database_name = ? and schema_name = ? order by table_name",
        [catalog, PUBLISHED_SCHEMA],
    ).fetchall()
    fingerprint = hashlib.sha256()
    digests: dict[str, TableDigest] = {}
    for (name,) in tables:
        relation = f"{quote_ident(catalog)}.{PUBLISHED_SCHEMA}.{quote_ident(name)}"
        columns = con.execute(
            "select column_name, data_type from duckdb_columns()"
            " where database_name = ? and schema_name = ? and table_name = ? order by column_index",
            [catalog, PUBLISHED_SCHEMA, name],
        ).fetchall()
        rows, checksum = one_row(
            con, f"select count(*), coalesce(sum(hash(t)::hugeint), 0) from {relation} as t"
        )
        entry = json.dumps([name, columns, rows, str(checksum)]).encode()
        fingerprint.update(entry)
        digests[name] = TableDigest(int(rows), hashlib.sha256(entry).hexdigest())
    return fingerprint.hexdigest(), digests


def raw_fingerprint(con: duckdb.DuckDBPyConnection) -> str:
    """A checksum of the ingestion batches that landed rows (``raw._ingest_log``)."""
    exists = one_row(
        con, "select count(*) from duckdb_tables() where schema_name = 'raw' and table_name = '_ingest_log'"
    )[0]
    batches = (
        con.execute(
            "select batch_id from raw._ingest_log where coalesce(rows_loaded, 0) > 0 order by batch_id"
        ).fetchall()
        if exists
        else []
    )
    return hashlib.sha256("\n".join(b[0] for b in batches).encode()).hexdigest()


def current_build(settings: Settings, *, marts: bool = True) -> Build:
    """Fingerprint the warehouse as it is now (read-only: nothing may be writing it). Without ``marts``,
    only the raw batches are fingerprinted (the marts' checksum reads every published row; a gate that
    judges raw data only does not need it) and ``Build.marts`` is empty."""
    if not settings.warehouse_path.exists():
        raise LifecycleError(f"no warehouse at {settings.warehouse_path}: run `lifecycle transform` first")
    try:
        with connect_warehouse(settings, read_only=True) as con:
            fingerprint, tables = marts_fingerprint(con) if marts else ("", {})
            raw = raw_fingerprint(con)
    except duckdb.IOException as error:
        raise LifecycleError(
            f"cannot read {settings.warehouse_path} ({error}); is another process writing to it?"
        ) from error
    return Build(marts=fingerprint, raw=raw, tables=tables)


def verdicts_path(settings: Settings) -> Path:
    return settings.state_dir / "verdicts.json"


def load_verdicts(settings: Settings) -> dict[str, Verdict]:
    path = verdicts_path(settings)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
        return {gate: Verdict(**{**v, "failed": tuple(v["failed"])}) for gate, v in data.items()}
    except (ValueError, TypeError, KeyError) as error:
        raise LifecycleError(f"{path} is not a verdict record ({error}): rerun the gates") from error


def record(
    settings: Settings,
    gate: str,
    *,
    passed: bool,
    run_id: str,
    build: Build,
    as_of: dt.datetime | None = None,
    failed: tuple[str, ...] = (),
    dbt_invocation_id: str | None = None,
    judges_marts: bool = True,
) -> Verdict:
    """Record ``gate``'s verdict on ``build`` (replacing its previous one), atomically."""
    verdict = Verdict(
        gate=gate,
        passed=passed,
        run_id=run_id,
        judged_at=dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds"),
        marts=build.marts if judges_marts else None,
        raw=build.raw,
        as_of=as_of.isoformat(timespec="seconds") if as_of else None,
        dbt_invocation_id=dbt_invocation_id,
        failed=tuple(failed),
    )
    verdicts = load_verdicts(settings)
    verdicts[gate] = verdict
    write_atomic(
        verdicts_path(settings), json.dumps({g: dataclasses.asdict(v) for g, v in verdicts.items()}, indent=2)
    )
    return verdict


def require_publishable(settings: Settings, marts: str) -> dict[str, Verdict]:
    """The verdicts that allow publishing marts with fingerprint ``marts``; GateFailed naming every
    failed or missing gate."""
    verdicts = load_verdicts(settings)
    problems = []
    for gate in REQUIRED_GATES:
        verdict = verdicts.get(gate)
        if verdict is None:
            problems.append(f"{gate}: no verdict (run `lifecycle {_command(gate)}`)")
        elif verdict.marts != marts:
            problems.append(
                f"{gate}: its verdict ({verdict.run_id}) is on another build; the marts changed since"
                f" (rerun `lifecycle {_command(gate)}`)"
            )
        elif not verdict.passed:
            problems.append(f"{gate}: failed in {verdict.run_id}: " + "; ".join(verdict.failed[:5]))
    built, validated = verdicts.get("dbt build"), verdicts.get("validate")
    if not problems and built and validated and built.raw != validated.raw:
        problems.append("validate: audited other raw batches than the build was made from (rerun it)")
    audit = verdicts.get(AUDIT_RAW)
    if audit and built and audit.raw == built.raw and not audit.passed:
        problems.append(f"{AUDIT_RAW}: failed in {audit.run_id}: " + "; ".join(audit.failed[:5]))
    if problems:
        raise GateFailed(
            "publish refused: this build has not passed every gate; the last publication stays:\n  - "
            + "\n  - ".join(problems)
        )
    return verdicts


def _command(gate: str) -> str:
    return {"dbt build": "transform", "validate": "validate", AUDIT_RAW: "run"}[gate]
