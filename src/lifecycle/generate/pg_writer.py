"""Writes the simulated shop into PostgreSQL (``LIFECYCLE_APP_DATABASE_URL``): same tables, rows and order.

The simulator plans each day and writes it to its working copy, ``app.sqlite``; every statement it made
there (its ``change_log``) is then made again here, in the same order, so both databases hold the same
world. PostgreSQL needs no triggers: its own write-ahead log is the change data capture. Each simulated
second becomes one transaction that starts with a logical-decoding message carrying the simulated clock,
so a reader of the log knows when, in the world's time, the transaction committed (the wall clock of this
machine says nothing about the simulated shop). ``_lifecycle_writer`` remembers, in the same transaction,
how far the working copy has been copied, so a crash at any point is completed by the next call.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from itertools import groupby
from pathlib import Path
from typing import Any

from lifecycle.errors import LifecycleError
from lifecycle.generate.schema import TABLES

#: Prefix of the logical-decoding message that opens each transaction with the simulated commit time.
CLOCK_PREFIX = "lifecycle.sim_clock"
#: Bookkeeping table of the writer; the ingestion leaves it out of the change stream.
WRITER_TABLE = "_lifecycle_writer"
#: Changes copied per read of the working copy's log.
CHUNK = 20_000

# The SQLite schema in PostgreSQL's own types. Timestamps print as ``YYYY-MM-DD HH:MM:SS`` and prices as
# the shortest exact double, so the change stream carries the same values as SQLite's JSON. REPLICA
# IDENTITY FULL makes a delete carry the whole old row, as the SQLite change log does.
DDL = f"""
create table {WRITER_TABLE} (position bigint not null);
insert into {WRITER_TABLE} values (0);
create table categories (
    category_id bigint primary key,
    name text not null,
    updated_at timestamp not null
);
create table products (
    product_id bigint primary key,
    category_id bigint not null references categories (category_id),
    sku text not null unique,
    name text not null,
    price double precision not null,
    is_active integer not null check (is_active in (0, 1)),
    created_at timestamp not null,
    updated_at timestamp not null
);
create table customers (
    customer_id bigint primary key,
    email text not null,
    phone text,
    first_name text not null,
    last_name text not null,
    birth_date date,
    country text not null,
    created_at timestamp not null,
    updated_at timestamp not null,
    deleted_at timestamp
);
create table addresses (
    address_id bigint primary key,
    customer_id bigint not null,
    street text not null,
    city text not null,
    postal_code text not null,
    country text not null,
    is_default integer not null check (is_default in (0, 1)),
    created_at timestamp not null,
    updated_at timestamp not null
);
create table orders (
    order_id bigint primary key,
    customer_id bigint not null,
    status text not null
        check (status in ('placed', 'paid', 'shipped', 'delivered', 'cancelled', 'returned')),
    placed_at timestamp not null,
    updated_at timestamp not null,
    shipping_address_id bigint not null
);
create index orders_customer_id on orders (customer_id);
create table order_items (
    order_item_id bigint primary key,
    order_id bigint not null references orders (order_id),
    product_id bigint not null references products (product_id),
    quantity integer not null check (quantity > 0),
    unit_price double precision not null,
    discount_amount double precision not null
);
create index order_items_order_id on order_items (order_id);
create table payments (
    payment_id bigint primary key,
    order_id bigint not null references orders (order_id),
    method text not null check (method in ('card', 'paypal', 'klarna', 'gift_card')),
    amount double precision not null check (amount >= 0),
    status text not null check (status in ('captured', 'failed', 'refunded')),
    created_at timestamp not null
);
create index payments_order_id on payments (order_id);
""" + "\n".join(f"alter table {table} replica identity full;" for table in TABLES)

Change = tuple[int, str, str, str, str, str]


def _statement(table: str, op: str, row: dict[str, Any]) -> tuple[str, list[Any]]:
    """The SQL that makes change ``op`` of ``row`` (the full row image) in ``table``."""
    columns = TABLES[table]
    key = columns[0]
    if op == "insert":
        names = ", ".join(columns)
        marks = ", ".join("%s" for _ in columns)
        return f"insert into {table} ({names}) values ({marks})", [row[c] for c in columns]
    if op == "update":
        sets = ", ".join(f"{c} = %s" for c in columns[1:])
        return f"update {table} set {sets} where {key} = %s", [*(row[c] for c in columns[1:]), row[key]]
    if op == "delete":
        return f"delete from {table} where {key} = %s", [row[key]]
    raise LifecycleError(f"app.sqlite change_log: unknown op {op!r} for table {table}")


def _read_log(sqlite_path: Path, after: int) -> Iterator[list[Change]]:
    src = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    try:
        position = after
        while True:
            rows: list[Change] = src.execute(
                "select change_id, table_name, op, row_key, changed_at, row_json from change_log"
                " where change_id > ? order by change_id limit ?",
                [position, CHUNK],
            ).fetchall()
            if not rows:
                return
            yield rows
            position = rows[-1][0]
    finally:
        src.close()


def _newest(sqlite_path: Path) -> int:
    src = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    try:
        return int(src.execute("select coalesce(max(change_id), 0) from change_log").fetchone()[0])
    finally:
        src.close()


def ensure_schema(conn: Any, *, slot: str | None) -> None:
    """Create the shop's tables in an empty database (and the CDC slot, so the log holds every change).

    The replication slot is created before the first row is written, as a shop sets up its change data
    capture before it opens: reading the slot then gives the whole history, like SQLite's change log.
    """
    exists = conn.execute("select to_regclass(%s) is not null", [WRITER_TABLE]).fetchone()[0]
    if exists:
        return
    taken = conn.execute(
        "select count(*) from information_schema.tables"
        " where table_schema = 'public' and table_name = any(%s)",
        [list(TABLES)],
    ).fetchone()[0]
    if taken:
        raise LifecycleError(
            "LIFECYCLE_APP_DATABASE_URL: the database already holds shop tables that this simulator did not "
            "write (no _lifecycle_writer table); point it at an empty database"
        )
    with conn.transaction():
        conn.execute(DDL)
    if slot is not None:
        present = conn.execute("select 1 from pg_replication_slots where slot_name = %s", [slot]).fetchone()
        if not present:
            conn.execute("select pg_create_logical_replication_slot(%s, 'wal2json')", [slot])


def sync(url: str, sqlite_path: Path, *, slot: str | None) -> int:
    """Make in PostgreSQL every change of the working copy not made there yet; return how many."""
    import psycopg

    copied = 0
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            # Durability of each simulated second is not needed: a lost tail is copied again.
            conn.execute("set synchronous_commit = off")
            ensure_schema(conn, slot=slot)
            (position,) = conn.execute(f"select position from {WRITER_TABLE}").fetchone()  # type: ignore[misc]
            newest = _newest(sqlite_path)
            if position > newest:
                raise LifecycleError(
                    f"the PostgreSQL shop holds {position:,} changes but {sqlite_path} only {newest:,}: it "
                    "belongs to another world; point LIFECYCLE_APP_DATABASE_URL at an empty database"
                )
            for rows in _read_log(sqlite_path, int(position)):
                for _, group in groupby(rows, key=lambda r: r[4]):
                    copied += _write_second(conn, list(group))
            # One durable commit flushes the WAL of all before it: a reader of the slot sees only
            # flushed WAL, and the generated world should be readable as soon as generation returns.
            conn.execute("set synchronous_commit = on")
            conn.execute(f"update {WRITER_TABLE} set position = position")
    except psycopg.Error as exc:
        raise LifecycleError(f"writing the shop to PostgreSQL ({_safe(url)}) failed: {exc}") from exc
    return copied


def _write_second(conn: Any, changes: Sequence[Change]) -> int:
    """One transaction: the clock message, the changes of one simulated second, the new position."""
    with conn.transaction(), conn.pipeline():
        conn.execute("select pg_logical_emit_message(true, %s, %s)", [CLOCK_PREFIX, changes[0][4]])
        for _change_id, table, op, _key, _changed_at, row_json in changes:
            if table not in TABLES:
                raise LifecycleError(f"app.sqlite change_log holds table {table!r}, unknown to the simulator")
            sql, params = _statement(table, op, json.loads(row_json))
            conn.execute(sql, params)
        conn.execute(f"update {WRITER_TABLE} set position = %s", [changes[-1][0]])
    return len(changes)


def _safe(url: str) -> str:
    """The URL without a password, for messages."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(url)
    except Exception:
        return "the configured database"
    return f"{parts.get('host', '')}:{parts.get('port', '')}/{parts.get('dbname', '')}"
