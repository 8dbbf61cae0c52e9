"""Declared schemas of every source entity: ingestion parses with these, never by type auto-detection.

A field missing from a declaration is schema drift (recorded, lands as a new column); a declared field that
disappears or no longer parses as its type fails that source's load.

What each declared type accepts, exactly or not at all (a value that would need rounding, truncating or
reinterpreting is quarantined with a reason naming the field):

- JSON sources (events, the application's ``row_json``): an integer type takes JSON integers only (not
  ``12.5``, ``"12"`` or ``true``); a DECIMAL takes JSON numbers with at most its scale of digits after the
  point; a TIMESTAMP takes an ISO-8601 string, with ``Z``, a UTC offset (``+02:00``, ``-0530``, ``+02``)
  or none (UTC), any fraction of a second (kept to the microsecond), and lands as the UTC instant; a DATE
  takes ``YYYY-MM-DD`` only. VARCHAR and JSON take any value.
- The ads CSV: numbers in the partner's declared dialect only (``lifecycle.ingest.ads.Dialect``).
"""

from __future__ import annotations

#: Application database tables (columns of ``row_json`` in ``change_log``) and their DuckDB types.
APP_TABLES: dict[str, dict[str, str]] = {
    "customers": {
        "customer_id": "BIGINT",
        "email": "VARCHAR",
        "phone": "VARCHAR",
        "first_name": "VARCHAR",
        "last_name": "VARCHAR",
        "birth_date": "DATE",
        "country": "VARCHAR",
        "created_at": "TIMESTAMP",
        "updated_at": "TIMESTAMP",
        "deleted_at": "TIMESTAMP",
    },
    "addresses": {
        "address_id": "BIGINT",
        "customer_id": "BIGINT",
        "street": "VARCHAR",
        "city": "VARCHAR",
        "postal_code": "VARCHAR",
        "country": "VARCHAR",
        "is_default": "INTEGER",
        "created_at": "TIMESTAMP",
        "updated_at": "TIMESTAMP",
    },
    "categories": {
        "category_id": "BIGINT",
        "name": "VARCHAR",
        "updated_at": "TIMESTAMP",
    },
    "products": {
        "product_id": "BIGINT",
        "category_id": "BIGINT",
        "sku": "VARCHAR",
        "name": "VARCHAR",
        "price": "DECIMAL(18,2)",
        "is_active": "INTEGER",
        "created_at": "TIMESTAMP",
        "updated_at": "TIMESTAMP",
    },
    "orders": {
        "order_id": "BIGINT",
        "customer_id": "BIGINT",
        "status": "VARCHAR",
        "placed_at": "TIMESTAMP",
        "updated_at": "TIMESTAMP",
        "shipping_address_id": "BIGINT",
    },
    "order_items": {
        "order_item_id": "BIGINT",
        "order_id": "BIGINT",
        "product_id": "BIGINT",
        "quantity": "INTEGER",
        "unit_price": "DECIMAL(18,2)",
        "discount_amount": "DECIMAL(18,2)",
    },
    "payments": {
        "payment_id": "BIGINT",
        "order_id": "BIGINT",
        "method": "VARCHAR",
        "amount": "DECIMAL(18,2)",
        "status": "VARCHAR",
        "created_at": "TIMESTAMP",
    },
}

#: Columns every raw table carries for lineage (README, "Ingestion").
LINEAGE_COLUMNS: dict[str, str] = {
    "_batch_id": "VARCHAR",
    "_ingested_at": "TIMESTAMP",
    "_source_file": "VARCHAR",
}

#: Clickstream events (one JSON object per line). Fields not in ``EVENT_REQUIRED`` may be absent.
EVENT_FIELDS: dict[str, str] = {
    "event_id": "VARCHAR",
    "event_type": "VARCHAR",
    "event_time": "TIMESTAMP",
    "anonymous_id": "VARCHAR",
    "customer_id": "BIGINT",
    "user_agent": "VARCHAR",
    "platform": "VARCHAR",
    # Declared schema change (docs/sources.md): `device` was renamed `device_type` and `app_version`
    # was added at one date. Both names are declared, so the rename is not drift; staging coalesces them.
    "device": "VARCHAR",
    "device_type": "VARCHAR",
    "app_version": "VARCHAR",
    "page_url": "VARCHAR",
    "product_id": "BIGINT",
    "order_id": "BIGINT",
    "utm_source": "VARCHAR",
    "utm_medium": "VARCHAR",
    "utm_campaign": "VARCHAR",
    "context": "JSON",
}
EVENT_REQUIRED: tuple[str, ...] = ("event_id", "event_type", "event_time", "anonymous_id")
#: When an event happened: timeliness (a record from after the as-of) is judged on it.
EVENT_TIME = "event_time"

#: Ad-platform drops: header name -> type. Columns are matched by name, never by position.
AD_FIELDS: dict[str, str] = {
    "date": "DATE",
    "channel": "VARCHAR",
    "campaign_id": "VARCHAR",
    "campaign_name": "VARCHAR",
    "impressions": "BIGINT",
    "clicks": "BIGINT",
    "spend": "DECIMAL(18,2)",
}
