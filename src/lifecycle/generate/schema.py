"""The retailer's OLTP database (``app.sqlite``): its tables, and the triggers that capture every change.

Each insert, update and delete appends the full row to ``change_log``, stamped with the simulated clock
(``_sim_clock``), so the log reads like the change-data-capture of a real application: the rows an
ingestion would see from CDC, and any ad-hoc SQL change made later is captured the same way.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

#: Columns of each application table, in order; the triggers serialise exactly these.
TABLES: dict[str, tuple[str, ...]] = {
    "categories": ("category_id", "name", "updated_at"),
    "products": (
        "product_id", "category_id", "sku", "name", "price", "is_active", "created_at", "updated_at",
    ),
    "customers": (
        "customer_id", "email", "phone", "first_name", "last_name", "birth_date", "country",
        "created_at", "updated_at", "deleted_at",
    ),
    "addresses": (
        "address_id", "customer_id", "street", "city", "postal_code", "country", "is_default",
        "created_at", "updated_at",
    ),
    "orders": ("order_id", "customer_id", "status", "placed_at", "updated_at", "shipping_address_id"),
    "order_items": ("order_item_id", "order_id", "product_id", "quantity", "unit_price", "discount_amount"),
    "payments": ("payment_id", "order_id", "method", "amount", "status", "created_at"),
}  # fmt: skip

DDL = """
create table _sim_clock (now text);
create table change_log (
    change_id integer primary key autoincrement,
    table_name text not null,
    op text not null check (op in ('insert', 'update', 'delete')),
    row_key text not null,
    changed_at text not null,
    row_json text not null
);
create table categories (
    category_id integer primary key,
    name text not null,
    updated_at text not null
);
create table products (
    product_id integer primary key,
    category_id integer not null references categories (category_id),
    sku text not null unique,
    name text not null,
    price real not null,
    is_active integer not null check (is_active in (0, 1)),
    created_at text not null,
    updated_at text not null
);
create table customers (
    customer_id integer primary key,
    email text not null,
    phone text,
    first_name text not null,
    last_name text not null,
    birth_date text,
    country text not null,
    created_at text not null,
    updated_at text not null,
    deleted_at text
);
create table addresses (
    address_id integer primary key,
    customer_id integer not null,
    street text not null,
    city text not null,
    postal_code text not null,
    country text not null,
    is_default integer not null check (is_default in (0, 1)),
    created_at text not null,
    updated_at text not null
);
create table orders (
    order_id integer primary key,
    customer_id integer not null,
    status text not null
        check (status in ('placed', 'paid', 'shipped', 'delivered', 'cancelled', 'returned')),
    placed_at text not null,
    updated_at text not null,
    shipping_address_id integer not null
);
create index orders_customer_id on orders (customer_id);
create table order_items (
    order_item_id integer primary key,
    order_id integer not null references orders (order_id),
    product_id integer not null references products (product_id),
    quantity integer not null check (quantity > 0),
    unit_price real not null,
    discount_amount real not null
);
create index order_items_order_id on order_items (order_id);
create table payments (
    payment_id integer primary key,
    order_id integer not null references orders (order_id),
    method text not null check (method in ('card', 'paypal', 'klarna', 'gift_card')),
    amount real not null check (amount >= 0),
    status text not null check (status in ('captured', 'failed', 'refunded')),
    created_at text not null
);
create index payments_order_id on payments (order_id);
"""

#: When a change happened: the simulated now, or the wall clock while the simulator has set none.
CLOCK_SQL = "coalesce((select now from _sim_clock), strftime('%Y-%m-%d %H:%M:%S', 'now'))"


def trigger_ddl(table: str, columns: tuple[str, ...]) -> str:
    """AFTER INSERT/UPDATE/DELETE triggers appending the full row (NEW, or OLD for deletes) to change_log."""
    statements = []
    for op, ref in (("insert", "new"), ("update", "new"), ("delete", "old")):
        pairs = ", ".join(f"'{col}', {ref}.{col}" for col in columns)
        statements.append(
            f"create trigger {table}_cdc_{op} after {op} on {table} begin\n"
            f"    insert into change_log (table_name, op, row_key, changed_at, row_json)\n"
            f"    values ('{table}', '{op}', cast({ref}.{columns[0]} as text), {CLOCK_SQL},"
            f" json_object({pairs}));\nend;"
        )
    return "\n".join(statements)


def connect(path: Path) -> sqlite3.Connection:
    """Autocommit connection; the simulator opens one explicit transaction per simulated day."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("pragma foreign_keys = off")  # erasure deletes customers whose orders stay
    return conn


def create_schema(conn: sqlite3.Connection) -> None:
    """Tables, indexes and CDC triggers of a new database, with its simulated clock not yet set."""
    conn.executescript(DDL + "\n".join(trigger_ddl(t, cols) for t, cols in TABLES.items()))
    conn.execute("insert into _sim_clock (now) values (null)")


def read_clock(conn: sqlite3.Connection) -> str | None:
    """The simulated now the last write left (``YYYY-MM-DD HH:MM:SS``; None before the first day)."""
    row = conn.execute("select now from _sim_clock").fetchone()
    return row[0] if row else None
