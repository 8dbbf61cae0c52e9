"""Reverse ETL: customer segments for the CRM, read from the publication's ``analytics.duckdb`` only.

The export carries hashed contact keys, never raw email or phone. It is checked against a declared contract
before anything is written; it is written into the publication being prepared, so it becomes visible with
that publication or not at all (``lifecycle.publish``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from lifecycle.errors import GateFailed, LifecycleError
from lifecycle.storage import connect, one_row, quote_literal


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
        Column("rfm_segment", "VARCHAR", "RFM segment (fct_customer_rfm); null for a customer with no order"),
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


#: The export's select over the publication (attached as ``published``).
SEGMENTS_QUERY = """
    select
        customers.customer_id,
        customers.email_hash,
        customers.phone_hash,
        cast(rfm.rfm_segment as varchar) as rfm_segment,
        customers.is_active,
        customers.lifetime_value
    from published.main.dim_customers as customers
    left join published.main.fct_customer_rfm as rfm
        on customers.customer_id = rfm.customer_id
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
        (value,) = one_row(con, sql)
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


#: The published marts the CRM export reads (its lineage).
CRM_INPUTS = ("dim_customers", "fct_customer_rfm")


def export_crm_segments(analytics: Path, out_dir: Path) -> CrmExport:
    """Check the CRM segments of the publication ``analytics`` against the contract; write CSV and Parquet.

    Raises GateFailed, writing nothing, when the contract does not hold (LifecycleError when the
    publication cannot be read at all).
    """
    target_csv = out_dir / f"{CRM_SEGMENTS.name}.csv"
    target_parquet = out_dir / f"{CRM_SEGMENTS.name}.parquet"
    # An in-memory session with the publication attached read-only: never the warehouse.
    with connect() as con:
        con.execute(f"attach {quote_literal(analytics)} as published (read_only)")
        try:
            con.execute(f"create temp table {CRM_SEGMENTS.name} as {SEGMENTS_QUERY}")
            (expected,) = one_row(
                con, "select count(*) from published.main.dim_customers where not coalesce(is_erased, false)"
            )
        except duckdb.Error as exc:
            raise LifecycleError(
                f"CRM export: cannot read dim_customers and fct_customer_rfm from {analytics}: {exc}"
            ) from exc
        problems = contract_violations(con, CRM_SEGMENTS.name, CRM_SEGMENTS, expected)
        if problems:
            raise GateFailed(
                f"CRM export contract {CRM_SEGMENTS.name!r} failed; nothing was published: "
                + "; ".join(problems)
            )
        con.execute(f"copy {CRM_SEGMENTS.name} to {quote_literal(target_csv)} (format csv, header true)")
        con.execute(f"copy {CRM_SEGMENTS.name} to {quote_literal(target_parquet)} (format parquet)")
    return CrmExport(target_csv, target_parquet, expected)
