"""Reverse ETL: customer segments for the CRM, read from the published ``analytics.duckdb`` only.

The export carries hashed contact keys, never raw email or phone. It is checked against a declared contract
before anything is written, and written by temp file + ``os.replace``: a failed check leaves the previous
export in place, and a reader never sees a half-written file.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb

from lifecycle.config import Settings
from lifecycle.errors import GateFailed, LifecycleError


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str


@dataclass(frozen=True)
class Contract:
    """What the CRM may rely on: these columns, with these DuckDB types, in this order."""

    name: str
    columns: tuple[Column, ...]


CRM_SEGMENTS = Contract(
    name="crm_segments",
    columns=(
        Column("customer_id", "BIGINT", "the shop's customer id; unique, never null"),
        Column("email_hash", "VARCHAR", "salted SHA-256 of the normalised email (null if none)"),
        Column("phone_hash", "VARCHAR", "salted SHA-256 of the normalised phone (null if none)"),
        Column("rfm_segment", "VARCHAR", "RFM segment, null while the published marts have no RFM model"),
        Column("is_active", "BOOLEAN", "active customer, as defined once in dim_customers"),
        Column("lifetime_value", "DECIMAL(18,2)", "net revenue from the customer to date"),
    ),
)

#: A hashed contact key is a 64-digit lower-case hex SHA-256, nothing else.
HASH_PATTERN = "^[0-9a-f]{64}$"
#: Something that reads like a phone number: digits with the usual separators, 7 to 20 characters.
PHONE_PATTERN = r"^\+?[0-9][0-9 ()./-]{5,18}[0-9]$"


@dataclass(frozen=True)
class CrmExport:
    csv: Path
    parquet: Path
    rows: int
    #: Where rfm_segment came from (``table.column``), or None when no RFM model is published yet.
    rfm_source: str | None


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    rows = con.execute(
        "select column_name, data_type from duckdb_columns()"
        " where database_name = 'published' and schema_name = 'main' and table_name = ?"
        " order by column_index",
        [table],
    ).fetchall()
    return dict(rows)


def find_rfm_source(con: duckdb.DuckDBPyConnection) -> tuple[str, str] | None:
    """The published (table, column) holding each customer's RFM segment, if one exists yet.

    Looked up at run time because the RFM model is being built separately: ``dim_customers.rfm_segment``
    if it is there, else the first published table named like ``*rfm*`` with ``customer_id`` and a column
    named ``rfm_segment`` (or, failing that, ``segment``).
    """
    if "rfm_segment" in _columns(con, "dim_customers"):
        return ("dim_customers", "rfm_segment")
    tables = [
        r[0]
        for r in con.execute(
            "select table_name from duckdb_tables() where database_name = 'published'"
            " and schema_name = 'main' and table_name ilike '%rfm%' order by table_name"
        ).fetchall()
    ]
    for table in tables:
        columns = _columns(con, table)
        if "customer_id" not in columns:
            continue
        for candidate in ("rfm_segment", "segment"):
            if candidate in columns:
                return (table, candidate)
    return None


def segments_query(rfm: tuple[str, str] | None) -> str:
    """The export's select over the published marts (attached as ``published``)."""
    if rfm is None:
        rfm_join, rfm_value = "", "cast(null as varchar)"
    elif rfm[0] == "dim_customers":
        rfm_join, rfm_value = "", f"cast(customers.{_ident(rfm[1])} as varchar)"
    else:
        rfm_join = (
            f"left join published.main.{_ident(rfm[0])} as rfm on customers.customer_id = rfm.customer_id"
        )
        rfm_value = f"cast(rfm.{_ident(rfm[1])} as varchar)"
    return f"""
        select
            customers.customer_id,
            customers.email_hash,
            customers.phone_hash,
            {rfm_value} as rfm_segment,
            customers.is_active,
            customers.lifetime_value
        from published.main.dim_customers as customers
        {rfm_join}
        where not coalesce(customers.is_erased, false)
        order by customers.customer_id
    """


def contract_violations(
    con: duckdb.DuckDBPyConnection, table: str, contract: Contract, expected_rows: int
) -> list[str]:
    """Every way ``table`` breaks ``contract``; empty when it holds."""
    problems: list[str] = []
    actual = [
        (r[0], r[1])
        for r in con.execute(
            "select column_name, data_type from duckdb_columns()"
            " where database_name = 'temp' and table_name = ? order by column_index",
            [table],
        ).fetchall()
    ]
    declared = [(c.name, c.type) for c in contract.columns]
    if actual != declared:
        problems.append(f"columns {actual} differ from the declared {declared}")
        return problems  # the value checks below assume the declared columns

    def scalar(sql: str) -> int:
        (value,) = con.execute(sql).fetchone()  # type: ignore[misc]
        return int(value or 0)

    if (rows := scalar(f"select count(*) from {table}")) != expected_rows:
        problems.append(f"{rows} rows, but the published dim_customers has {expected_rows} non-erased rows")
    if nulls := scalar(f"select count(*) from {table} where customer_id is null"):
        problems.append(f"customer_id is null in {nulls} row(s)")
    if dupes := scalar(
        f"select count(*) from (select customer_id from {table} group by customer_id having count(*) > 1)"
    ):
        problems.append(f"customer_id is not unique: {dupes} id(s) appear more than once")
    for column in ("email_hash", "phone_hash"):
        bad = scalar(
            f"select count(*) from {table} where {column} is not null"
            f" and not regexp_full_match({column}, '{HASH_PATTERN}')"
        )
        if bad:
            problems.append(f"{column} is not a SHA-256 hex digest in {bad} row(s)")
    text_columns = [c.name for c in contract.columns if c.type == "VARCHAR"]
    for column in text_columns:
        if emails := scalar(f"select count(*) from {table} where contains({column}, '@')"):
            problems.append(f"{column} holds something like an email address (an '@') in {emails} row(s)")
        if phones := scalar(
            f"select count(*) from {table} where regexp_full_match({column}, '{PHONE_PATTERN}')"
        ):
            problems.append(f"{column} holds something like a phone number in {phones} row(s)")
    return problems


def export_crm_segments(settings: Settings) -> CrmExport:
    """Check the CRM segments of the published marts against the contract, then write CSV and Parquet.

    Raises GateFailed, writing nothing, when the contract does not hold (LifecycleError when the
    published marts cannot be read at all).
    """
    if not settings.analytics_path.exists():
        raise LifecycleError(
            f"no published marts at {settings.analytics_path}: run `lifecycle publish` first"
        )
    out_dir = settings.exports_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    target_csv = out_dir / f"{CRM_SEGMENTS.name}.csv"
    target_parquet = out_dir / f"{CRM_SEGMENTS.name}.parquet"
    tag = uuid.uuid4().hex[:8]
    tmp_csv = out_dir / f".{CRM_SEGMENTS.name}-{tag}.csv"
    tmp_parquet = out_dir / f".{CRM_SEGMENTS.name}-{tag}.parquet"
    # An in-memory session with the published file attached read-only: never the warehouse, and never a
    # write lock on the file analysts read.
    con = duckdb.connect()
    try:
        con.execute(f"attach {_quote(settings.analytics_path)} as published (read_only)")
        if not _columns(con, "dim_customers"):
            raise LifecycleError(
                f"{settings.analytics_path} has no dim_customers: the CRM export reads customers from it"
            )
        rfm = find_rfm_source(con)
        try:
            con.execute(f"create temp table {CRM_SEGMENTS.name} as {segments_query(rfm)}")
            (expected,) = con.execute(  # type: ignore[misc]
                "select count(*) from published.main.dim_customers where not coalesce(is_erased, false)"
            ).fetchone()
        except duckdb.Error as exc:
            raise LifecycleError(
                f"CRM export: cannot read customers from {settings.analytics_path}: {exc}"
            ) from exc
        problems = contract_violations(con, CRM_SEGMENTS.name, CRM_SEGMENTS, expected)
        if problems:
            # A gate on the CRM feed: the run stops with exit 2 and the report names the broken check.
            raise GateFailed(
                f"CRM export contract {CRM_SEGMENTS.name!r} failed, nothing written, the previous export"
                f" in {out_dir} stays: " + "; ".join(problems)
            )
        rows = expected
        con.execute(f"copy {CRM_SEGMENTS.name} to {_quote(tmp_csv)} (format csv, header true)")
        con.execute(f"copy {CRM_SEGMENTS.name} to {_quote(tmp_parquet)} (format parquet)")
        os.replace(tmp_csv, target_csv)
        os.replace(tmp_parquet, target_parquet)
    finally:
        con.close()
        tmp_csv.unlink(missing_ok=True)
        tmp_parquet.unlink(missing_ok=True)
    return CrmExport(target_csv, target_parquet, rows, f"{rfm[0]}.{rfm[1]}" if rfm else None)
