"""The retailer's OLTP database (``app.sqlite``): schema, change-data-capture triggers, and a day of writes.

Every change goes through SQL in simulated-time order, with ``_sim_clock`` set to the simulated now, so
the trigger-fed ``change_log`` reads like the log of a real application: the same rows an ingestion
would see from CDC, and any ad-hoc SQL change made later is captured the same way.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from lifecycle.generate import vocab
from lifecycle.generate.params import Volumes
from lifecycle.generate.sessions import Visits
from lifecycle.generate.state import DAY_SECONDS, State, append_rows, day_start, format_ts

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

CLOCK_SQL = "coalesce((select now from _sim_clock), strftime('%Y-%m-%d %H:%M:%S', 'now'))"


class Database(Protocol):
    """Where the simulator's SQL goes: the database connection, or ``REPLAY``."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...

    def executemany(self, sql: str, parameters: Any, /) -> Any: ...


class Replay:
    """Stands in for the database while a day's writes that an earlier run already made are replayed.

    Continuing a day generated up to some instant plans it again from the same state and random streams;
    its beginning must advance the simulator's bookkeeping (ids, prices, order amounts) exactly as
    before, without writing the rows a second time.
    """

    def execute(self, sql: str, parameters: Any = (), /) -> None:
        return None

    def executemany(self, sql: str, parameters: Any, /) -> None:
        return None


REPLAY = Replay()
METHODS = ("card", "paypal", "klarna", "gift_card")


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
    conn.executescript(DDL + "\n".join(trigger_ddl(t, cols) for t, cols in TABLES.items()))
    conn.execute("insert into _sim_clock (now) values (null)")


def read_clock(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("select now from _sim_clock").fetchone()
    return row[0] if row else None


def money(cents: int) -> float:
    """A REAL rounded to 2 decimals (the nearest double to the exact cent amount)."""
    return round(cents / 100, 2)


# --------------------------------------------------------------------------------------------------
# profiles and addresses: vectorised draws, formatted once


@dataclass
class Profiles:
    first_name: np.ndarray
    last_name: np.ndarray
    country: np.ndarray
    weight: np.ndarray
    email: list[str]
    phone: list[str]
    birth_date: list[str]
    addresses: list[tuple[str, str, str]]


def plan_emails(rng: np.random.Generator, first: np.ndarray, last: np.ndarray) -> list[str]:
    pattern = rng.integers(0, 3, len(first))
    number = rng.integers(1, 1000, len(first))
    domain = rng.integers(0, len(vocab.EMAIL_DOMAINS), len(first))
    emails = []
    for f, la, p, num, d in zip(
        first.tolist(), last.tolist(), pattern.tolist(), number.tolist(), domain.tolist(), strict=True
    ):
        fs, ls = vocab.FIRST_SLUGS[f], vocab.LAST_SLUGS[la]
        local = (f"{fs}.{ls}{num}", f"{fs}{ls}{num}", f"{fs[0]}.{ls}.{num}")[p]
        emails.append(f"{local}@{vocab.EMAIL_DOMAINS[d]}")
    return emails


def postal_code(country: str, n: int) -> str:
    letters = "ABCDEFGHJKLMNPRSTUWXYZ"
    if country == "NL":
        return f"{1000 + n % 9000} {letters[n % 22]}{letters[n // 22 % 22]}"
    if country == "GB":
        area = f"{letters[n % 22]}{letters[n // 7 % 22]}{n % 9 + 1}"
        return f"{area} {n // 11 % 10}{letters[n // 13 % 22]}{letters[n // 17 % 22]}"
    if country in ("AT", "BE"):
        return f"{1000 + n % 9000}"
    if country == "PL":
        return f"{n % 100:02d}-{n // 100 % 1000:03d}"
    if country == "SE":
        return f"{100 + n % 900} {n // 1000 % 100:02d}"
    return f"{1000 + n % 99000:05d}"


def plan_addresses(rng: np.random.Generator, country: np.ndarray) -> list[tuple[str, str, str]]:
    """(street with number, city, postal code) per customer country."""
    street = rng.integers(0, 4, len(country))
    number = rng.integers(1, 200, len(country))
    city = rng.integers(0, 6, len(country))
    postal = rng.integers(0, 10**9, len(country))
    return [
        (f"{vocab.STREETS[c][s]} {num}", vocab.CITIES[c][ci], postal_code(vocab.COUNTRIES[c], p))
        for c, s, num, ci, p in zip(
            country.tolist(), street.tolist(), number.tolist(), city.tolist(), postal.tolist(), strict=True
        )
    ]


def plan_profiles(rng: np.random.Generator, country: np.ndarray, ds: int) -> Profiles:
    n = len(country)
    first = rng.integers(0, len(vocab.FIRST_NAMES), n).astype(np.int16)
    last = rng.integers(0, len(vocab.LAST_NAMES), n).astype(np.int16)
    weight = rng.gamma(0.6, 1.0, n) + 1e-3
    phone_digits = rng.integers(10**8, 10**10, n)
    age_days = rng.integers(18 * 365, 80 * 365, n)
    birth = np.datetime_as_string((ds // DAY_SECONDS - age_days).astype("datetime64[D]"), unit="D").tolist()
    return Profiles(
        first_name=first,
        last_name=last,
        country=country.astype(np.int8),
        weight=weight,
        email=plan_emails(rng, first, last),
        phone=[
            f"{vocab.PHONE_PREFIXES[c]} {d}"
            for c, d in zip(country.tolist(), phone_digits.tolist(), strict=True)
        ],
        birth_date=birth,
        addresses=plan_addresses(rng, country),
    )


def plan_products(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Category, price in cents (ending in 99), popularity and name of ``n`` new products."""
    category = rng.integers(0, len(vocab.CATEGORIES), n).astype(np.int16)
    typical = np.array(vocab.CATEGORY_PRICE_CENTS)[category]
    price = np.maximum(99, np.rint(typical * rng.lognormal(0.0, 0.5, n) / 100).astype(np.int64) * 100 - 1)
    weight = rng.lognormal(0.0, 1.2, n)
    adjective = rng.integers(0, len(vocab.PRODUCT_ADJECTIVES), n)
    noun = rng.integers(0, 5, n)
    names = [
        f"{vocab.PRODUCT_ADJECTIVES[a]} {vocab.PRODUCT_NOUNS[c][k]}"
        for a, c, k in zip(adjective.tolist(), category.tolist(), noun.tolist(), strict=True)
    ]
    return category, price, weight, names


# --------------------------------------------------------------------------------------------------
# the world before its first day


def bootstrap(conn: Database, state: State, rng: np.random.Generator, volumes: Volumes) -> None:
    """Create the catalog and the customers who existed before the first day (inside the open transaction).

    Rows are inserted in creation-time order with the clock set to each creation time, so replaying
    change_log from the start rebuilds the database.
    """
    ds = day_start(state.first_day)
    n_products = max(50, round(volumes.initial_products * state.scale))
    n_customers = max(100, round(volumes.initial_customers * state.scale))

    category_ts = format_ts(np.array([ds - 3 * 365 * DAY_SECONDS]))[0]
    set_clock(conn, category_ts)
    conn.executemany(
        "insert into categories values (?, ?, ?)",
        [(i + 1, name, category_ts) for i, name in enumerate(vocab.CATEGORIES)],
    )

    category, price, weight, names = plan_products(rng, n_products)
    product_ts = np.sort(ds - rng.integers(1, 2 * 365 * DAY_SECONDS, n_products))
    active = rng.random(n_products) >= 0.03
    append_rows(state.products, category=category, price_cents=price, is_active=active, weight=weight)

    country = rng.choice(len(vocab.COUNTRIES), size=n_customers, p=vocab.COUNTRY_WEIGHTS)
    profiles = plan_profiles(rng, country, ds)
    customer_ts = np.sort(ds - rng.integers(1, 365 * DAY_SECONDS, n_customers))
    anon_hi = rng.integers(0, np.iinfo(np.uint64).max, n_customers, dtype=np.uint64, endpoint=True)
    anon_lo = rng.integers(0, np.iinfo(np.uint64).max, n_customers, dtype=np.uint64, endpoint=True)
    append_rows(
        state.customers,
        created_ts=customer_ts,
        deleted_kind=np.zeros(n_customers),
        deleted_ts=np.full(n_customers, -1),
        weight=profiles.weight,
        first_name=profiles.first_name,
        last_name=profiles.last_name,
        country=profiles.country,
        anon_hi=anon_hi,
        anon_lo=anon_lo,
        address_id=np.zeros(n_customers),
    )

    product_text, customer_text = format_ts(product_ts), format_ts(customer_ts)
    timeline = sorted(
        [(t, 0, i) for i, t in enumerate(product_ts.tolist())]
        + [(t, 1, i) for i, t in enumerate(customer_ts.tolist())]
    )
    for _, what, i in timeline:
        if what == 0:
            set_clock(conn, product_text[i])
            conn.execute(
                "insert into products values (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    i + 1, int(category[i]) + 1, f"SKU-{i + 1:06d}", names[i], money(int(price[i])),
                    int(active[i]), product_text[i], product_text[i],
                ),
            )  # fmt: skip
        else:
            set_clock(conn, customer_text[i])
            insert_customer(conn, state, profiles, i, i, customer_text[i])


def set_clock(conn: Database, now: str) -> None:
    conn.execute("update _sim_clock set now = ?", (now,))


def insert_customer(
    conn: Database, state: State, profiles: Profiles, p: int, customer: int, now: str
) -> None:
    """A new account and its default address (profile ``p`` becomes customer index ``customer``)."""
    country = vocab.COUNTRIES[int(profiles.country[p])]
    conn.execute(
        "insert into customers values (?, ?, ?, ?, ?, ?, ?, ?, ?, null)",
        (
            customer + 1, profiles.email[p], profiles.phone[p],
            vocab.FIRST_NAMES[int(profiles.first_name[p])], vocab.LAST_NAMES[int(profiles.last_name[p])],
            profiles.birth_date[p], country, now, now,
        ),
    )  # fmt: skip
    address_id = state.next_id("address_id")
    street, city, postal = profiles.addresses[p]
    conn.execute(
        "insert into addresses values (?, ?, ?, ?, ?, ?, 1, ?, ?)",
        (address_id, customer + 1, street, city, postal, country, now, now),
    )
    state.customers["address_id"][customer] = address_id


# --------------------------------------------------------------------------------------------------
# a day


@dataclass
class Changes:
    """The day's changes to accounts and catalog, planned before the visits."""

    unavailable: np.ndarray  # customers who must not visit today (they are deleted today)
    orderable: np.ndarray  # product indices on sale all day
    soft_delete: np.ndarray
    soft_delete_ts: np.ndarray
    hard_delete: np.ndarray
    hard_delete_ts: np.ndarray
    email: np.ndarray
    email_ts: np.ndarray
    new_email: list[str]
    address: np.ndarray
    address_ts: np.ndarray
    address_moves: np.ndarray  # True: a new default address row; False: the default address is edited
    new_address: list[tuple[str, str, str]]
    reprice: np.ndarray
    reprice_ts: np.ndarray
    new_price: np.ndarray
    retire: np.ndarray
    retire_ts: np.ndarray
    new_product_ts: np.ndarray
    new_product_category: np.ndarray
    new_product_price: np.ndarray
    new_product_weight: np.ndarray
    new_product_name: list[str]


def plan_changes(rng: np.random.Generator, state: State, day: dt.date, volumes: Volumes) -> Changes:
    ds = day_start(day)
    scale = state.scale
    customers, products = state.customers, state.products

    live = np.flatnonzero((customers["deleted_kind"] == 0) & (customers["created_ts"] < ds))
    n_soft = int(rng.binomial(len(live), volumes.soft_delete_share))
    n_hard = int(rng.binomial(len(live), volumes.hard_delete_share))
    n_email = int(rng.binomial(len(live), volumes.email_change_share))
    n_address = int(rng.binomial(len(live), volumes.address_change_share))
    shuffled = rng.permutation(live)
    cuts = np.cumsum([n_soft, n_hard, n_email, n_address])
    soft, hard, email, address, _ = np.split(shuffled, cuts)
    unavailable = np.zeros(len(customers["created_ts"]), dtype=bool)
    unavailable[soft] = True
    unavailable[hard] = True

    def times(n: int) -> np.ndarray:
        return np.sort(ds + rng.integers(0, DAY_SECONDS, n))

    soft_ts, hard_ts, email_ts, address_ts = (
        times(len(soft)),
        times(len(hard)),
        times(len(email)),
        times(len(address)),
    )
    new_email = plan_emails(rng, customers["first_name"][email], customers["last_name"][email])
    moves = rng.random(len(address)) < 0.5
    new_address = plan_addresses(rng, customers["country"][address])

    active = np.flatnonzero(products["is_active"])
    n_retire = min(int(rng.poisson(volumes.retired_products * scale)), max(0, len(active) - 20))
    n_reprice = int(rng.binomial(len(active), volumes.price_change_share))
    retire, reprice, _ = np.split(rng.permutation(active), np.cumsum([n_retire, n_reprice]))
    factor = rng.lognormal(0.0, 0.08, len(reprice))
    new_price = np.maximum(
        99, np.rint(products["price_cents"][reprice] * factor / 100).astype(np.int64) * 100 - 1
    )
    orderable = np.setdiff1d(active, retire)

    n_new = int(rng.poisson(volumes.new_products * scale))
    category, price, weight, names = plan_products(rng, n_new)
    return Changes(
        unavailable=unavailable,
        orderable=orderable,
        soft_delete=soft,
        soft_delete_ts=soft_ts,
        hard_delete=hard,
        hard_delete_ts=hard_ts,
        email=email,
        email_ts=email_ts,
        new_email=new_email,
        address=address,
        address_ts=address_ts,
        address_moves=moves,
        new_address=new_address,
        reprice=reprice,
        reprice_ts=times(len(reprice)),
        new_price=new_price,
        retire=retire,
        retire_ts=times(len(retire)),
        new_product_ts=times(n_new),
        new_product_category=category,
        new_product_price=price,
        new_product_weight=weight,
        new_product_name=names,
    )


# Action codes double as the order of actions that share a second.
(NEW_PRODUCT, RETIRE, REPRICE, SIGNUP, EMAIL, ADDRESS, PLACE, PAY_FAIL, PAY, CANCEL, SHIP, DELIVER, RETURN,
 SOFT_DELETE, HARD_DELETE) = range(15)  # fmt: skip
#: The steps of an order's future, by the state column holding their time.
ORDER_STEPS = (
    ("fail_ts", PAY_FAIL),
    ("pay_ts", PAY),
    ("cancel_ts", CANCEL),
    ("ship_ts", SHIP),
    ("deliver_ts", DELIVER),
    ("return_ts", RETURN),
)
STATUS_AFTER = {PAY: "paid", CANCEL: "cancelled", SHIP: "shipped", DELIVER: "delivered", RETURN: "returned"}
PAYMENT_STATUS = {PAY_FAIL: "failed", PAY: "captured", RETURN: "refunded"}


def write_day(
    conn: sqlite3.Connection,
    state: State,
    day: dt.date,
    changes: Changes,
    visits: Visits,
    profiles: Profiles,
    *,
    written: int | None = None,
    until: int | None = None,
) -> None:
    """Apply the day to the state and write it to the database in simulated-time order (open transaction).

    ``written``: an earlier run wrote the day up to this instant (epoch seconds), which is replayed, not
    written again; ``until``: write only up to this instant, leaving the rest of the day for a later run.
    The database's clock ends at ``until``, or at the last second of the day.
    """
    record_day(state, changes, visits, profiles)
    when, code, arg = schedule(state, day, changes, visits)
    DayWriter(conn, state, changes, visits, profiles).run(when, code, arg, written=written, until=until)
    end = day_start(day) + DAY_SECONDS - 1 if until is None else until
    set_clock(conn, format_ts(np.array([end]))[0])


def record_day(state: State, changes: Changes, visits: Visits, profiles: Profiles) -> None:
    """Add the day's new products, accounts and orders to the state, and mark retirements and deletions.

    Amounts of new orders stay 0 here: they depend on the prices at the moment of ordering, which the
    writer knows when it gets there.
    """
    n_new_products = len(changes.new_product_ts)
    append_rows(
        state.products,
        category=changes.new_product_category,
        price_cents=changes.new_product_price,
        is_active=np.ones(n_new_products),
        weight=changes.new_product_weight,
    )
    state.products["is_active"][changes.retire] = False
    signups, placed = visits.signups, visits.orders
    n_signups = len(signups.created_ts)
    append_rows(
        state.customers,
        created_ts=signups.created_ts,
        deleted_kind=np.zeros(n_signups),
        deleted_ts=np.full(n_signups, -1),
        weight=profiles.weight,
        first_name=profiles.first_name,
        last_name=profiles.last_name,
        country=profiles.country,
        anon_hi=signups.anon_hi,
        anon_lo=signups.anon_lo,
        address_id=np.zeros(n_signups),
    )
    state.customers["deleted_kind"][changes.soft_delete] = 1
    state.customers["deleted_ts"][changes.soft_delete] = changes.soft_delete_ts
    state.customers["deleted_kind"][changes.hard_delete] = 2
    state.customers["deleted_ts"][changes.hard_delete] = changes.hard_delete_ts
    n_orders = len(placed.placed_ts)
    append_rows(
        state.orders,
        customer=placed.customer,
        placed_ts=placed.placed_ts,
        gross_cents=np.zeros(n_orders),
        discount_cents=np.zeros(n_orders),
        method=placed.method,
        fail_ts=placed.fail_ts,
        pay_ts=placed.pay_ts,
        cancel_ts=placed.cancel_ts,
        ship_ts=placed.ship_ts,
        deliver_ts=placed.deliver_ts,
        return_ts=placed.return_ts,
    )


def schedule(
    state: State, day: dt.date, changes: Changes, visits: Visits
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every write of the day as (time, action code, argument), sorted by time, then action, then argument.

    Order steps come from the state, so orders placed on earlier days (or earlier runs) progress too.
    """
    ds = day_start(day)

    def every(items: np.ndarray) -> np.ndarray:
        return np.arange(len(items))

    parts: list[tuple[np.ndarray, int, np.ndarray]] = [
        (changes.new_product_ts, NEW_PRODUCT, every(changes.new_product_ts)),
        (changes.retire_ts, RETIRE, every(changes.retire)),
        (changes.reprice_ts, REPRICE, every(changes.reprice)),
        (visits.signups.created_ts, SIGNUP, every(visits.signups.created_ts)),
        (changes.email_ts, EMAIL, every(changes.email)),
        (changes.address_ts, ADDRESS, every(changes.address)),
        (visits.orders.placed_ts, PLACE, every(visits.orders.placed_ts)),
        (changes.soft_delete_ts, SOFT_DELETE, every(changes.soft_delete)),
        (changes.hard_delete_ts, HARD_DELETE, every(changes.hard_delete)),
    ]
    for column, step in ORDER_STEPS:
        ts = state.orders[column]
        due = np.flatnonzero((ts >= ds) & (ts < ds + DAY_SECONDS))
        parts.append((ts[due], step, due))
    when = np.concatenate([p[0] for p in parts]).astype(np.int64)
    code = np.concatenate([np.full(len(p[0]), p[1]) for p in parts]).astype(np.int64)
    arg = np.concatenate([p[2] for p in parts]).astype(np.int64)
    order = np.lexsort((arg, code, when))
    return when[order], code[order], arg[order]


class DayWriter:
    """Executes a day's schedule as SQL, moving the simulated clock along; one method per action."""

    def __init__(
        self, conn: sqlite3.Connection, state: State, changes: Changes, visits: Visits, profiles: Profiles
    ) -> None:
        self.database = conn
        self.conn: Database = conn
        self.execute: Callable[..., Any] = conn.execute
        self.state, self.changes, self.visits, self.profiles = state, changes, visits, profiles
        placed = visits.orders
        # plain Python lists: the loop touches single elements, where numpy scalars are slow
        self.price = state.products["price_cents"].tolist()
        self.method = state.orders["method"].tolist()
        self.item_start = np.searchsorted(placed.item_order, np.arange(len(placed.placed_ts) + 1)).tolist()
        self.item_product = placed.item_product.tolist()
        self.item_quantity = placed.item_quantity.tolist()
        self.first_new_product = len(self.price) - len(changes.new_product_ts)
        self.handlers = {
            NEW_PRODUCT: self.new_product,
            RETIRE: self.retire,
            REPRICE: self.reprice,
            SIGNUP: self.signup,
            EMAIL: self.email,
            ADDRESS: self.address,
            PLACE: self.place,
            PAY_FAIL: self.payment,
            PAY: self.payment,
            CANCEL: self.order_status,
            SHIP: self.order_status,
            DELIVER: self.order_status,
            RETURN: self.payment,
            SOFT_DELETE: self.soft_delete,
            HARD_DELETE: self.hard_delete,
        }

    def run(
        self,
        when: np.ndarray,
        code: np.ndarray,
        arg: np.ndarray,
        *,
        written: int | None = None,
        until: int | None = None,
    ) -> None:
        """Execute the schedule: actions at or before ``written`` are replayed, those after ``until`` left."""
        first = 0 if written is None else int(np.searchsorted(when, written, side="right"))
        stop = len(when) if until is None else int(np.searchsorted(when, until, side="right"))
        self._execute(REPLAY, when[:first], code[:first], arg[:first])
        self._execute(self.database, when[first:stop], code[first:stop], arg[first:stop])
        self.state.products["price_cents"] = np.array(self.price, dtype=np.int64)

    def _execute(self, target: Database, when: np.ndarray, code: np.ndarray, arg: np.ndarray) -> None:
        self.conn, self.execute = target, target.execute
        clock = None
        for now, action, a in zip(format_ts(when), code.tolist(), arg.tolist(), strict=True):
            if now != clock:
                set_clock(self.conn, now)
                clock = now
            self.handlers[action](action, a, now)

    def place(self, _action: int, a: int, now: str) -> None:
        """Insert order ``a`` of the day and its lines, priced at this moment's prices."""
        placed, orders = self.visits.orders, self.state.orders
        o, c = placed.first_index + a, int(placed.customer[a])
        address = int(self.state.customers["address_id"][c])
        self.execute("insert into orders values (?, ?, 'placed', ?, ?, ?)", (o + 1, c + 1, now, now, address))
        pct = int(placed.discount_pct[a])
        gross = discount = 0
        for j in range(self.item_start[a], self.item_start[a + 1]):
            product, quantity = self.item_product[j], self.item_quantity[j]
            unit = self.price[product]
            line_discount = (unit * quantity * pct + 50) // 100  # half up, in cents
            gross += unit * quantity
            discount += line_discount
            line_id = self.state.next_id("order_item_id")
            self.execute(
                "insert into order_items values (?, ?, ?, ?, ?, ?)",
                (line_id, o + 1, product + 1, quantity, money(unit), money(line_discount)),
            )
        orders["gross_cents"][o], orders["discount_cents"][o] = gross, discount

    def payment(self, action: int, o: int, now: str) -> None:
        """A payment attempt, capture or refund of the full amount due; capture and refund move the status."""
        due = int(self.state.orders["gross_cents"][o] - self.state.orders["discount_cents"][o])
        self.execute(
            "insert into payments values (?, ?, ?, ?, ?, ?)",
            (
                self.state.next_id("payment_id"), o + 1, METHODS[self.method[o]], money(due),
                PAYMENT_STATUS[action], now,
            ),
        )  # fmt: skip
        if action in STATUS_AFTER:
            self.order_status(action, o, now)

    def order_status(self, action: int, o: int, now: str) -> None:
        self.execute(
            "update orders set status = ?, updated_at = ? where order_id = ?",
            (STATUS_AFTER[action], now, o + 1),
        )

    def signup(self, _action: int, a: int, now: str) -> None:
        insert_customer(self.conn, self.state, self.profiles, a, self.visits.signups.first_index + a, now)

    def email(self, _action: int, a: int, now: str) -> None:
        c = int(self.changes.email[a])
        self.execute(
            "update customers set email = ?, updated_at = ? where customer_id = ?",
            (self.changes.new_email[a], now, c + 1),
        )

    def address(self, _action: int, a: int, now: str) -> None:
        """A move: either a new default address (the old one kept, not default), or the default edited."""
        c = int(self.changes.address[a])
        current = int(self.state.customers["address_id"][c])
        street, city, postal = self.changes.new_address[a]
        if not self.changes.address_moves[a]:
            self.execute(
                "update addresses set street = ?, city = ?, postal_code = ?, updated_at = ?"
                " where address_id = ?",
                (street, city, postal, now, current),
            )
            return
        self.execute(
            "update addresses set is_default = 0, updated_at = ? where address_id = ?", (now, current)
        )
        address_id = self.state.next_id("address_id")
        country = vocab.COUNTRIES[int(self.state.customers["country"][c])]
        self.execute(
            "insert into addresses values (?, ?, ?, ?, ?, ?, 1, ?, ?)",
            (address_id, c + 1, street, city, postal, country, now, now),
        )
        self.state.customers["address_id"][c] = address_id

    def soft_delete(self, _action: int, a: int, now: str) -> None:
        c = int(self.changes.soft_delete[a])
        self.execute(
            "update customers set deleted_at = ?, updated_at = ? where customer_id = ?", (now, now, c + 1)
        )

    def hard_delete(self, _action: int, a: int, _now: str) -> None:
        """Erasure request: the account and its addresses go; orders and payments stay."""
        c = int(self.changes.hard_delete[a])
        self.execute("delete from addresses where customer_id = ?", (c + 1,))
        self.execute("delete from customers where customer_id = ?", (c + 1,))

    def reprice(self, _action: int, a: int, now: str) -> None:
        p = int(self.changes.reprice[a])
        self.price[p] = int(self.changes.new_price[a])
        self.execute(
            "update products set price = ?, updated_at = ? where product_id = ?",
            (money(self.price[p]), now, p + 1),
        )

    def retire(self, _action: int, a: int, now: str) -> None:
        p = int(self.changes.retire[a])
        self.execute("update products set is_active = 0, updated_at = ? where product_id = ?", (now, p + 1))

    def new_product(self, _action: int, a: int, now: str) -> None:
        p = self.first_new_product + a
        self.execute(
            "insert into products values (?, ?, ?, ?, ?, 1, ?, ?)",
            (
                p + 1, int(self.changes.new_product_category[a]) + 1, f"SKU-{p + 1:06d}",
                self.changes.new_product_name[a], money(self.price[p]), now, now,
            ),
        )  # fmt: skip
