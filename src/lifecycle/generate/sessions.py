"""The day's visits to the shop: who comes, what they click, when, and which visits end in an order.

Visits are planned before anything is written, because they tie the sources together: a sign-up in a
session creates the customer row, an order_placed event creates the order row with the same id.

Session rules the ground truth relies on (a session = one anonymous_id's events with gaps <= 30 min):
each anonymous_id has at most one session per day, gaps inside a session are under 20 minutes, and
every session ends before 23:30 UTC, so two sessions of one visitor are always more than 30 minutes apart.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from enum import IntEnum

import numpy as np

from lifecycle.generate import vocab
from lifecycle.generate.ads import CAMPAIGNS
from lifecycle.generate.params import Volumes
from lifecycle.generate.state import State, day_start

HOUR_MS = 3_600_000
#: Sessions end by 23:29:59.999, so the next day's session of the same visitor starts > 30 min later.
LAST_SESSION_END_MS = 23 * HOUR_MS + 30 * 60_000 - 1
MAX_HUMAN_GAP_MS = 1_200_000
#: Share of sessions per UTC hour: quiet nights, an evening peak.
HOUR_WEIGHTS = np.array(
    [1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3, 3.5, 3.8, 4, 4.2, 4, 3.8, 3.8, 4, 4.3, 4.8, 5.5, 6, 5.5, 4, 2.2]
)
HOUR_WEIGHTS = HOUR_WEIGHTS / HOUR_WEIGHTS.sum()
#: How a visitor probably returns with the cookie of the device they signed up on.
HOME_COOKIE_SHARE = 0.75


class Kind(IntEnum):
    BUY_EXISTING = 0
    BUY_NEW = 1  # signs up, then orders
    SIGNUP_BROWSE = 2  # signs up, leaves without ordering
    BROWSE_KNOWN = 3  # logs in, leaves without ordering
    BROWSE_ANON = 4
    BOT_HONEST = 5
    BOT_DISGUISED = 6


class EventType(IntEnum):
    PAGE_VIEW = 0
    PRODUCT_VIEW = 1
    SEARCH = 2
    ADD_TO_CART = 3
    CHECKOUT_STARTED = 4
    ORDER_PLACED = 5


EVENT_TYPE_NAMES = tuple(t.name.lower() for t in EventType)

#: Where a session lands from: (utm_source, utm_medium, campaign position or -1).
LANDINGS: tuple[tuple[str | None, str | None, int], ...] = (
    (None, None, -1),
    ("newsletter", "email", -1),
    ("partner_blog", "referral", -1),
    *((c.utm_source, c.utm_medium, i) for i, c in enumerate(CAMPAIGNS)),
)
PAID_SHARE = 0.38
LANDING_WEIGHTS = np.array([0.50, 0.08, 0.04, *(PAID_SHARE * c.share for c in CAMPAIGNS)])
LANDING_WEIGHTS = LANDING_WEIGHTS / LANDING_WEIGHTS.sum()
LANDING_CAMPAIGN = np.array([landing[2] for landing in LANDINGS], dtype=np.int64)


@dataclass
class Sessions:
    """Sessions (first block of arrays) and their events (``ev_*``, flat, grouped by session)."""

    kind: np.ndarray  # Kind
    customer: np.ndarray  # customer index of the account used, -1 for visitors who never log in
    anon_hi: np.ndarray  # anonymous_id as two uint64 halves
    anon_lo: np.ndarray
    combo: np.ndarray  # index into vocab.DEVICE_PLATFORMS
    user_agent: np.ndarray  # index into the combo's user agents (or vocab.BOT_USER_AGENTS for honest bots)
    screen: np.ndarray
    country: np.ndarray  # locale
    ip: np.ndarray
    app_version: np.ndarray  # minor * 10 + patch of ShopApp 5.x.y
    landing: np.ndarray  # index into LANDINGS
    login_pos: np.ndarray  # position of the first event with customer_id set, -1 never
    order: np.ndarray  # order index placed in this session, -1 none
    ev_session: np.ndarray
    ev_type: np.ndarray
    ev_ms: np.ndarray  # event time, epoch milliseconds
    ev_product: np.ndarray  # product index, -1 none
    ev_term: np.ndarray  # search term index, -1 none
    ev_hi: np.ndarray  # event_id halves
    ev_lo: np.ndarray

    @property
    def size(self) -> int:
        return len(self.kind)

    def first_event(self) -> np.ndarray:
        """Index of each session's first event in the ``ev_*`` arrays."""
        return group_starts(np.bincount(self.ev_session, minlength=self.size))

    def concat(self, other: Sessions) -> Sessions:
        joined = {}
        for f in fields(self):
            extra = getattr(other, f.name)
            if f.name == "ev_session":
                extra = extra + self.size
            joined[f.name] = np.concatenate([getattr(self, f.name), extra])
        return Sessions(**joined)


@dataclass
class Signups:
    """Accounts created today, in id order (customer index = first_index + position)."""

    first_index: int
    session: np.ndarray
    created_ts: np.ndarray
    country: np.ndarray
    anon_hi: np.ndarray
    anon_lo: np.ndarray


@dataclass
class PlacedOrders:
    """Orders placed today in id order (order index = first_index + position) with their whole future."""

    first_index: int
    session: np.ndarray
    customer: np.ndarray
    placed_ts: np.ndarray
    discount_pct: np.ndarray
    method: np.ndarray
    fail_ts: np.ndarray
    pay_ts: np.ndarray
    cancel_ts: np.ndarray
    ship_ts: np.ndarray
    deliver_ts: np.ndarray
    return_ts: np.ndarray
    item_order: np.ndarray  # position of the order, items sorted by (order, product)
    item_product: np.ndarray
    item_quantity: np.ndarray


@dataclass
class Visits:
    sessions: Sessions
    signups: Signups
    orders: PlacedOrders


def group_starts(counts: np.ndarray) -> np.ndarray:
    """Index of each group's first element in a flat array of consecutive groups of ``counts``."""
    starts: np.ndarray = (np.cumsum(counts) - counts).astype(np.int64)
    return starts


def random_u64(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, np.iinfo(np.uint64).max, size=n, dtype=np.uint64, endpoint=True)


def weighted_sample(
    rng: np.random.Generator, candidates: np.ndarray, weights: np.ndarray, k: int
) -> np.ndarray:
    """``k`` distinct candidates, drawn with probability proportional to weight (exponential keys)."""
    keys = rng.exponential(size=len(candidates)) / weights
    picked: np.ndarray = candidates[np.argsort(keys, kind="stable")[:k]]
    return picked


def pick_index(rng: np.random.Generator, lengths: np.ndarray) -> np.ndarray:
    """A uniform index below each of ``lengths`` (vectorised choice from lists of different length)."""
    index: np.ndarray = np.floor(rng.random(len(lengths)) * lengths).astype(np.int64)
    return index


def plan_visits(
    rng: np.random.Generator,
    state: State,
    day: dt.date,
    *,
    volumes: Volumes,
    unavailable: np.ndarray,
    orderable: np.ndarray,
) -> Visits:
    """Plan the human sessions of ``day``.

    ``unavailable`` masks customers who must not visit (e.g. deleted later today); ``orderable`` lists
    the product indices on sale all day.
    """
    if len(orderable) == 0:
        raise ValueError(f"{day}: no product is on sale; the catalog of the simulated shop is empty")
    scale = state.scale
    ds = day_start(day)
    customers = state.customers

    n_new = int(rng.poisson(volumes.new_customers * scale))
    new_buys = rng.random(n_new) < volumes.signup_buy_share
    n_buy = int(rng.poisson(volumes.existing_buyer_sessions * scale))
    n_known = int(rng.poisson(volumes.known_browse_sessions * scale))
    n_anon = int(rng.poisson(volumes.anonymous_sessions * scale))

    eligible = np.flatnonzero(
        (customers["deleted_kind"] == 0) & (customers["created_ts"] < ds) & ~unavailable
    )
    buyers = weighted_sample(rng, eligible, customers["weight"][eligible], min(n_buy, len(eligible)))
    rest = np.setdiff1d(eligible, buyers)
    known = rest[np.argsort(rng.random(len(rest)), kind="stable")[: min(n_known, len(rest))]]

    kind = np.concatenate(
        [
            np.full(len(buyers), Kind.BUY_EXISTING),
            np.where(new_buys, Kind.BUY_NEW, Kind.SIGNUP_BROWSE),
            np.full(len(known), Kind.BROWSE_KNOWN),
            np.full(n_anon, Kind.BROWSE_ANON),
        ]
    ).astype(np.int8)
    n = len(kind)
    customer = np.concatenate([buyers, np.full(n_new, -1), known, np.full(n_anon, -1)]).astype(np.int64)
    has_account = customer >= 0

    combo = rng.choice(len(vocab.DEVICE_PLATFORMS), size=n, p=vocab.DEVICE_PLATFORM_WEIGHTS)
    user_agent = pick_index(rng, np.array([len(u) for u in vocab.USER_AGENTS])[combo])
    screen = pick_index(rng, np.array([len(s) for s in vocab.SCREENS])[combo])
    country = rng.choice(len(vocab.COUNTRIES), size=n, p=vocab.COUNTRY_WEIGHTS)
    country[has_account] = customers["country"][customer[has_account]]
    ip = rng.integers(16_777_216, 3_758_096_383, size=n, dtype=np.int64)
    app_version = rng.integers(0, 40, size=n)
    landing = rng.choice(len(LANDINGS), size=n, p=LANDING_WEIGHTS)
    anon_hi, anon_lo = random_u64(rng, n), random_u64(rng, n)
    home = has_account & (rng.random(n) < HOME_COOKIE_SHARE)
    anon_hi[home] = customers["anon_hi"][customer[home]]
    anon_lo[home] = customers["anon_lo"][customer[home]]

    # what each session does: landing page, browsing, a cart, checkout, order
    buying = (kind == Kind.BUY_EXISTING) | (kind == Kind.BUY_NEW)
    n_browse = np.where(buying, rng.poisson(0.5, n), rng.poisson(1.0, n))
    n_items = np.where(buying, 1 + rng.binomial(2, 0.25, n), rng.random(n) < 0.15).astype(np.int64)
    has_checkout = np.where(buying, True, (n_items > 0) & (rng.random(n) < 0.3)).astype(np.int64)
    n_events = 1 + n_browse + 2 * n_items + has_checkout + buying

    weights = state.products["weight"][orderable]
    p_products = weights / weights.sum()
    item_session = np.repeat(np.arange(n), n_items)
    item_product = orderable[rng.choice(len(orderable), size=len(item_session), p=p_products)]
    item_quantity = 1 + rng.binomial(2, 0.25, len(item_session))
    item_first = group_starts(n_items)

    total = int(n_events.sum())
    ev_session = np.repeat(np.arange(n), n_events)
    first = group_starts(n_events)
    pos = np.arange(total) - first[ev_session]
    nb, ni = n_browse[ev_session], n_items[ev_session]
    browse_type = np.array([EventType.PAGE_VIEW, EventType.PRODUCT_VIEW, EventType.SEARCH])[
        rng.choice(3, size=total, p=[0.35, 0.45, 0.20])
    ]
    k = pos - nb - 1  # position inside the cart block
    in_cart = (k >= 0) & (k < 2 * ni)
    after_cart = pos - nb - 2 * ni - 1  # 0 = checkout (if any), then order
    ev_type = np.select(
        [
            pos == 0,
            (pos >= 1) & (pos <= nb),
            in_cart & (k % 2 == 0),
            in_cart,
            (after_cart == 0) & (has_checkout[ev_session] == 1),
        ],
        [
            EventType.PAGE_VIEW,
            browse_type,
            EventType.PRODUCT_VIEW,
            EventType.ADD_TO_CART,
            EventType.CHECKOUT_STARTED,
        ],
        default=EventType.ORDER_PLACED,
    ).astype(np.int8)
    browse_product = orderable[rng.choice(len(orderable), size=total, p=p_products)]
    cart_product = (
        item_product[np.where(in_cart, item_first[ev_session] + k // 2, 0)] if len(item_product) else 0
    )
    ev_product = np.where(
        in_cart, cart_product, np.where(ev_type == EventType.PRODUCT_VIEW, browse_product, -1)
    ).astype(np.int64)
    term = rng.integers(0, len(vocab.SEARCH_TERMS), size=total)
    ev_term = np.where(ev_type == EventType.SEARCH, term, -1).astype(np.int16)

    # login: sign-ups and known customers log in somewhere; buyers at the latest at checkout
    r = rng.random(n)
    checkout_pos = n_browse + 2 * n_items + 1
    login_pos = np.where(
        buying,
        np.floor(r * (checkout_pos + 1)),
        np.where((kind == Kind.SIGNUP_BROWSE) | (kind == Kind.BROWSE_KNOWN), np.floor(r * n_events), -1),
    ).astype(np.int64)

    gaps = 1000 + np.minimum(rng.exponential(40_000.0, total), MAX_HUMAN_GAP_MS - 1000).astype(np.int64)
    ev_ms = session_times(rng, ev_session, n_events, gaps, ds)
    ev_hi, ev_lo = random_u64(rng, total), random_u64(rng, total)

    # accounts created today get ids in order of creation
    signing = np.flatnonzero(customer < 0)
    signing = signing[(kind[signing] == Kind.BUY_NEW) | (kind[signing] == Kind.SIGNUP_BROWSE)]
    signup_ts = ev_ms[first[signing] + login_pos[signing]] // 1000
    by_time = np.lexsort((signing, signup_ts))
    signing, signup_ts = signing[by_time], signup_ts[by_time]
    first_customer = len(customers["created_ts"])
    customer[signing] = first_customer + np.arange(len(signing))
    signups = Signups(
        first_index=first_customer,
        session=signing,
        created_ts=signup_ts,
        country=country[signing],
        anon_hi=anon_hi[signing],
        anon_lo=anon_lo[signing],
    )

    orders = plan_orders(rng, state, np.flatnonzero(buying), customer, ev_ms, first, n_events)
    order = np.full(n, -1, dtype=np.int64)
    order[orders.session] = orders.first_index + np.arange(len(orders.session))
    # items: the products put in the cart, merged when the same product was added twice
    order_pos = np.full(n, -1, dtype=np.int64)
    order_pos[orders.session] = np.arange(len(orders.session))
    bought = order_pos[item_session] >= 0
    key = order_pos[item_session[bought]] * (len(state.products["weight"]) + 1) + item_product[bought]
    keys, inverse = np.unique(key, return_inverse=True)
    orders.item_order = keys // (len(state.products["weight"]) + 1)
    orders.item_product = keys % (len(state.products["weight"]) + 1)
    orders.item_quantity = np.bincount(inverse, weights=item_quantity[bought], minlength=len(keys)).astype(
        np.int64
    )

    sessions = Sessions(
        kind=kind,
        customer=customer,
        anon_hi=anon_hi,
        anon_lo=anon_lo,
        combo=combo.astype(np.int8),
        user_agent=user_agent,
        screen=screen,
        country=country.astype(np.int8),
        ip=ip,
        app_version=app_version,
        landing=landing.astype(np.int8),
        login_pos=login_pos,
        order=order,
        ev_session=ev_session,
        ev_type=ev_type,
        ev_ms=ev_ms,
        ev_product=ev_product,
        ev_term=ev_term,
        ev_hi=ev_hi,
        ev_lo=ev_lo,
    )
    return Visits(sessions=sessions, signups=signups, orders=orders)


def session_times(
    rng: np.random.Generator, ev_session: np.ndarray, n_events: np.ndarray, gaps: np.ndarray, ds: int
) -> np.ndarray:
    """Event times (epoch ms): a start hour from the daily rhythm, then the gaps, ending before 23:30."""
    n = len(n_events)
    first = group_starts(n_events)
    gaps = gaps.copy()
    gaps[first] = 0
    cumulative = np.cumsum(gaps)
    offsets = cumulative - cumulative[first][ev_session]
    duration = offsets[first + n_events - 1]
    hour = rng.choice(24, size=n, p=HOUR_WEIGHTS)
    start = hour * HOUR_MS + rng.integers(0, HOUR_MS, size=n)
    start = np.minimum(start, LAST_SESSION_END_MS - duration)
    times: np.ndarray = ds * 1000 + start[ev_session] + offsets
    return times


def plan_orders(
    rng: np.random.Generator,
    state: State,
    buying: np.ndarray,
    customer: np.ndarray,
    ev_ms: np.ndarray,
    first: np.ndarray,
    n_events: np.ndarray,
) -> PlacedOrders:
    """Orders of the buying sessions, in id order, with payment, shipping and returns decided now."""
    placed_ts = ev_ms[first[buying] + n_events[buying] - 1] // 1000  # the order_placed event
    by_time = np.lexsort((buying, placed_ts))
    session, placed_ts = buying[by_time], placed_ts[by_time]
    n = len(session)
    discount_pct = np.where(rng.random(n) < 0.2, rng.choice([10, 15, 20], size=n), 0)
    method = rng.choice(4, size=n, p=[0.6, 0.25, 0.1, 0.05])
    fails = rng.random(n) < 0.06
    retries = rng.random(n) < 0.5
    returns = rng.random(n) < 0.05
    never = np.int64(-1)
    fail_ts = np.where(fails, placed_ts + rng.integers(30, 300, n), never)
    pay_ts = np.where(~fails, placed_ts + rng.integers(30, 1200, n), fail_ts + rng.integers(60, 1800, n))
    pay_ts = np.where(fails & ~retries, never, pay_ts)
    cancel_ts = np.where(fails & ~retries, fail_ts + rng.integers(3600, 72_000, n), never)
    ship_ts = np.where(pay_ts >= 0, pay_ts + rng.integers(4 * 3600, 48 * 3600, n), never)
    deliver_ts = np.where(ship_ts >= 0, ship_ts + rng.integers(86_400, 5 * 86_400, n), never)
    return_ts = np.where(
        (deliver_ts >= 0) & returns, deliver_ts + rng.integers(86_400, 14 * 86_400, n), never
    )
    empty = np.zeros(0, dtype=np.int64)
    return PlacedOrders(
        first_index=len(state.orders["placed_ts"]),
        session=session,
        customer=customer[session],
        placed_ts=placed_ts,
        discount_pct=discount_pct.astype(np.int64),
        method=method.astype(np.int8),
        fail_ts=fail_ts,
        pay_ts=pay_ts,
        cancel_ts=cancel_ts,
        ship_ts=ship_ts,
        deliver_ts=deliver_ts,
        return_ts=return_ts,
        item_order=empty,
        item_product=empty,
        item_quantity=empty,
    )
