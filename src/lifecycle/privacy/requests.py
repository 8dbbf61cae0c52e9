"""The erasure log: who must be forgotten, why, and when it was done — never who they were.

A request names the customer key only (the key stays, so orders and revenue are unchanged); the person's
contact data is looked up when the request is applied and is not written anywhere. Requests come from the
source (a customer's latest change in the application's log is a delete) and from an operator
(``lifecycle erase``). The log lives in the warehouse's raw schema (``raw._erasure_requests``), which dbt
reads as the source ``privacy.erasure_requests``; every change erasure and retention make in place is
recorded in ``raw._privacy_log``.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from lifecycle.config import Settings
from lifecycle.errors import InputError
from lifecycle.storage import connect_warehouse, ensure_raw_bookkeeping


def record_request(settings: Settings, customer_id: int, reason: str, *, now: dt.datetime) -> bool:
    """Record an operator's erasure request; False when the customer already has one."""
    if customer_id <= 0:
        raise InputError(f"--customer-id {customer_id}: customer ids are positive integers")
    if not reason.strip():
        raise InputError("--reason is empty: say why (a ticket number, the legal basis)")
    with connect_warehouse(settings) as con:
        ensure_raw_bookkeeping(con)
        known = con.execute(
            "select count(*) from raw._erasure_requests where customer_id = ?", [customer_id]
        ).fetchone()
        if known and known[0]:
            return False
        con.execute(
            "insert into raw._erasure_requests values (?, 'operator', ?, ?, null)",
            [customer_id, reason.strip(), now],
        )
    return True


def record_source_deletes(con: duckdb.DuckDBPyConnection, now: dt.datetime) -> int:
    """Log a request for every customer the application deleted (latest change a delete) not yet logged."""
    (added,) = con.execute(
        """
        insert into raw._erasure_requests
        select customer_id, 'source', 'deleted in the application (change ' || _change_id || ')', ?, null
        from raw.app_customers
        where _op = 'delete'
            and customer_id not in (select customer_id from raw._erasure_requests)
        qualify row_number() over (partition by customer_id order by _change_id desc) = 1
        """,
        [now],
    ).fetchone() or (0,)
    return int(added)


def erased_customers(con: duckdb.DuckDBPyConnection) -> list[int]:
    return [
        int(r[0]) for r in con.execute("select customer_id from raw._erasure_requests order by 1").fetchall()
    ]


def pending_customers(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Requests not applied to every store yet."""
    return [
        int(r[0])
        for r in con.execute(
            "select customer_id from raw._erasure_requests where erased_at is null order by 1"
        ).fetchall()
    ]


def log_change(con: duckdb.DuckDBPyConnection, action: str, store: str, rows: int, now: dt.datetime) -> None:
    if rows:
        con.execute("insert into raw._privacy_log values (?, ?, ?, ?)", [now, action, store, rows])
