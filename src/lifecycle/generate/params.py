"""The knobs of the simulated world: how much happens per day at scale 1, and how dirty the sources are.

Volumes scale linearly with ``scale``; the defect rates do not (they are shares, not counts).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class DefectRates:
    """Rates of the source defects the pipeline must survive; all are off when generating with ``clean``.

    Each defect adds or reshapes deliveries, never loses a real event or changes the business: a clean
    and a dirty world with the same seed have the same orders, customers and human sessions.
    """

    #: share of events delivered a second time (same event_id, byte-identical line, 1 s to 2 h later)
    duplicate_rate: float = 0.02
    #: share of lines in each events file moved away from event-time order
    out_of_order_rate: float = 0.05
    #: share of mobile-device events that arrive late (offline app): 2 to ``late_max_hours`` - 1 hour
    #: folders after their event hour
    late_mobile_rate: float = 0.03
    late_max_hours: int = 72
    #: share of all sessions that are bots or scrapers (extra to the human sessions)
    bot_session_share: float = 0.10
    #: share of bot sessions with a browser user agent (recognisable only by behaviour)
    disguised_bot_share: float = 0.5
    #: extra corrupted lines (truncated JSON or trailing garbage) per delivered event
    malformed_rate: float = 0.0005
    #: events generated on or after first_day + this many days use schema v2 (device_type, app_version)
    schema_change_after_days: int = 60
    #: ad drops on or after first_day + this many days use the partner's new column order
    ads_column_change_after_days: int = 30

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DefectRates:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class Volumes:
    """What happens on an average day at scale 1 (each count is a Poisson mean, multiplied by scale).

    Scale 1 = 250 sign-ups, 1,111 orders (100k per 90 days) and 2,211 human sessions per day, which with
    the bots of the default defect rates makes about 12,000 events per day (about 1.1M per 90 days).
    """

    initial_customers: int = 20_000  # accounts that exist before the world's first day
    initial_products: int = 2_000
    new_customers: float = 250.0  # sign-ups per day, each in its own session
    signup_buy_share: float = 0.4  # share of sign-up sessions that end with an order
    existing_buyer_sessions: float = 1_011.0  # sessions of existing customers that end with an order
    known_browse_sessions: float = 300.0  # existing customers who log in and leave without ordering
    anonymous_sessions: float = 650.0  # visitors who never log in
    new_products: float = 2.0
    retired_products: float = 1.0
    price_change_share: float = 0.02  # share of active products repriced per day
    email_change_share: float = 0.001  # share of customers changing e-mail per day
    address_change_share: float = 0.001
    soft_delete_share: float = 0.0002  # share of customers closing their account per day
    hard_delete_share: float = 0.0001  # share of customers asking for erasure per day


VOLUMES = Volumes()
