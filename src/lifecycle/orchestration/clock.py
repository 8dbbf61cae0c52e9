"""A run's as-of only moves forward: the check made before a run lands anything.

Ingestion lands what had arrived by a run's as-of, and dbt builds the marts as of it. A run of a day
behind what the warehouse has already landed would build marts "as of" that day from data of later days,
and publish them as if the clock had gone back: it is refused before anything is written. Running a day
again (the same as-of) is fine, as is any later one.
"""

from __future__ import annotations

import datetime as dt

from lifecycle.config import Settings
from lifecycle.errors import LifecycleError
from lifecycle.storage import connect_warehouse


class ClockBehind(LifecycleError):
    """A run's as-of lies before data the warehouse has already landed."""


def require_forward(settings: Settings, as_of: dt.datetime) -> None:
    """Raise ClockBehind if the warehouse already landed data as of an instant after ``as_of``."""
    landed = latest_landed_as_of(settings)
    if landed is not None and landed > as_of:
        raise ClockBehind(
            f"the warehouse already holds data landed as of {landed:%Y-%m-%d %H:%M:%S}, after this run's "
            f"as-of {as_of:%Y-%m-%d %H:%M:%S}: a day cannot be replayed over a later one. Materialise a "
            "later partition, or replay history into a new LIFECYCLE_DATA_DIR"
        )


def latest_landed_as_of(settings: Settings) -> dt.datetime | None:
    """The latest as-of any ingestion batch of this warehouse ran at (``raw._ingest_log``)."""
    if not settings.warehouse_path.exists():
        return None
    with connect_warehouse(settings, read_only=True) as con:
        has_column = con.execute(
            "select count(*) from duckdb_columns()"
            " where schema_name = 'raw' and table_name = '_ingest_log' and column_name = 'as_of'"
        ).fetchone()
        if not has_column or not has_column[0]:
            return None
        row = con.execute("select max(as_of) from raw._ingest_log").fetchone()
    value = row[0] if row else None
    return value if isinstance(value, dt.datetime) else None
