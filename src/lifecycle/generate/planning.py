"""What happens to the application's accounts and catalog: pure functions of the state and random draws.

Planning decides a day (or the world's beginning) before anything is written: new accounts' profiles,
products, deletions, email and address changes, price changes, and the time-ordered schedule of the
day's writes. The writer (``writer.py``) applies the plans to the state and the database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from lifecycle.generate import vocab
from lifecycle.generate.params import Volumes
from lifecycle.generate.sessions import Visits
from lifecycle.generate.state import DAY_SECONDS, State, day_start

# --------------------------------------------------------------------------------------------------
# profiles and addresses: vectorised draws, formatted once


@dataclass
class Profiles:
    """New accounts' personal data, one entry per account (names and country as indices into vocab)."""

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


@dataclass
class Bootstrap:
    """The catalog and the customers that exist before the world's first day."""

    category_ts: int  # when the categories were created
    product_ts: np.ndarray  # creation times, ascending
    product_category: np.ndarray
    product_price: np.ndarray  # cents
    product_weight: np.ndarray
    product_name: list[str]
    product_active: np.ndarray
    customer_ts: np.ndarray  # creation times, ascending
    profiles: Profiles
    anon_hi: np.ndarray
    anon_lo: np.ndarray


def plan_bootstrap(rng: np.random.Generator, state: State, volumes: Volumes) -> Bootstrap:
    """The products and customers created in the years before ``state.first_day``."""
    ds = day_start(state.first_day)
    n_products = max(50, round(volumes.initial_products * state.scale))
    n_customers = max(100, round(volumes.initial_customers * state.scale))
    category, price, weight, names = plan_products(rng, n_products)
    product_ts = np.sort(ds - rng.integers(1, 2 * 365 * DAY_SECONDS, n_products))
    active = rng.random(n_products) >= 0.03
    country = rng.choice(len(vocab.COUNTRIES), size=n_customers, p=vocab.COUNTRY_WEIGHTS)
    profiles = plan_profiles(rng, country, ds)
    customer_ts = np.sort(ds - rng.integers(1, 365 * DAY_SECONDS, n_customers))
    anon_hi = rng.integers(0, np.iinfo(np.uint64).max, n_customers, dtype=np.uint64, endpoint=True)
    anon_lo = rng.integers(0, np.iinfo(np.uint64).max, n_customers, dtype=np.uint64, endpoint=True)
    return Bootstrap(
        category_ts=ds - 3 * 365 * DAY_SECONDS,
        product_ts=product_ts,
        product_category=category,
        product_price=price,
        product_weight=weight,
        product_name=names,
        product_active=active,
        customer_ts=customer_ts,
        profiles=profiles,
        anon_hi=anon_hi,
        anon_lo=anon_lo,
    )


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


# --------------------------------------------------------------------------------------------------
# the day's schedule

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


def schedule(
    state: State, day: dt.date, changes: Changes, visits: Visits
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every write of the day as (time, action code, argument), sorted by time, then action, then argument.

    Order steps come from the state, so orders placed on earlier days (or earlier runs) progress too;
    ``state`` must already hold the day's new orders (``writer.record_day``).
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
