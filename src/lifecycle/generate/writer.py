"""Applies planned changes to the simulator's state and writes them to ``app.sqlite``, in time order.

Every change goes through SQL in simulated-time order, with ``_sim_clock`` set to the simulated now, so
the trigger-fed ``change_log`` (``schema.py``) reads like the log of a real application.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from lifecycle.generate import vocab
from lifecycle.generate.planning import (
    ADDRESS,
    CANCEL,
    DELIVER,
    EMAIL,
    HARD_DELETE,
    NEW_PRODUCT,
    PAY,
    PAY_FAIL,
    PLACE,
    REPRICE,
    RETIRE,
    RETURN,
    SHIP,
    SIGNUP,
    SOFT_DELETE,
    Bootstrap,
    Changes,
    Profiles,
    schedule,
)
from lifecycle.generate.sessions import Visits
from lifecycle.generate.state import DAY_SECONDS, State, append_rows, day_start, format_ts


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
#: Payment methods by the code ``sessions.plan_orders`` draws (``state.orders["method"]``).
METHODS = ("card", "paypal", "klarna", "gift_card")


def money(cents: int) -> float:
    """A REAL rounded to 2 decimals (the nearest double to the exact cent amount)."""
    return round(cents / 100, 2)


# --------------------------------------------------------------------------------------------------
# the world before its first day


def write_bootstrap(conn: Database, state: State, plan: Bootstrap) -> None:
    """Create the catalog and the customers who existed before the first day (inside the open transaction).

    Rows are inserted in creation-time order with the clock set to each creation time, so replaying
    change_log from the start rebuilds the database.
    """
    category_ts = format_ts(np.array([plan.category_ts]))[0]
    set_clock(conn, category_ts)
    conn.executemany(
        "insert into categories values (?, ?, ?)",
        [(i + 1, name, category_ts) for i, name in enumerate(vocab.CATEGORIES)],
    )
    append_rows(
        state.products,
        category=plan.product_category,
        price_cents=plan.product_price,
        is_active=plan.product_active,
        weight=plan.product_weight,
    )
    profiles, n_customers = plan.profiles, len(plan.customer_ts)
    append_rows(
        state.customers,
        created_ts=plan.customer_ts,
        deleted_kind=np.zeros(n_customers),
        deleted_ts=np.full(n_customers, -1),
        weight=profiles.weight,
        first_name=profiles.first_name,
        last_name=profiles.last_name,
        country=profiles.country,
        anon_hi=plan.anon_hi,
        anon_lo=plan.anon_lo,
        address_id=np.zeros(n_customers),
    )

    product_text, customer_text = format_ts(plan.product_ts), format_ts(plan.customer_ts)
    timeline = sorted(
        [(t, 0, i) for i, t in enumerate(plan.product_ts.tolist())]
        + [(t, 1, i) for i, t in enumerate(plan.customer_ts.tolist())]
    )
    for _, what, i in timeline:
        if what == 0:
            set_clock(conn, product_text[i])
            conn.execute(
                "insert into products values (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    i + 1, int(plan.product_category[i]) + 1, f"SKU-{i + 1:06d}", plan.product_name[i],
                    money(int(plan.product_price[i])), int(plan.product_active[i]), product_text[i],
                    product_text[i],
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
