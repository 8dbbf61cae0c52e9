"""Daily partitions keyed by as-of date, and the as-of instant a run of one judges.

A partition is a day (``YYYY-MM-DD``, UTC). A run of it judges the data as of the end of that day
(23:59:59, what ``lifecycle run --as-of YYYY-MM-DD`` means), or as of the moment the run started if that is
earlier: today's partition (the 06:00 schedule, a sensor run) never judges an instant that has not happened,
so ingestion never sees records of the present as "future". A run tagged ``lifecycle/as_of`` judges that
instant instead (for an operator who needs one).
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Mapping

from dagster import DailyPartitionsDefinition, Failure

from lifecycle.config import Settings
from lifecycle.errors import InputError
from lifecycle.orchestration.retries import StepContext

#: Run tag naming an explicit as-of (ISO timestamp, UTC).
AS_OF_TAG = "lifecycle/as_of"
#: Dagster's run tags: the partition of a run, or the range of one (a backfill's run, one day each here).
PARTITION_TAG = "dagster/partition"
RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")
#: First partition (YYYY-MM-DD); default: the first day of the world in the data directory.
START_ENV = "LIFECYCLE_PARTITIONS_START"
#: Without a world or LIFECYCLE_PARTITIONS_START, partitions start this many days before today.
DEFAULT_HISTORY_DAYS = 30


def partitions_start(settings: Settings, today: dt.date) -> dt.date:
    """The first partition: ``LIFECYCLE_PARTITIONS_START``, else the world's first day, else a month ago."""
    configured = os.environ.get(START_ENV, "").strip()
    if configured:
        try:
            return dt.date.fromisoformat(configured)
        except ValueError as exc:
            raise InputError(f"{START_ENV}={configured!r} is not a date (YYYY-MM-DD)") from exc
    from lifecycle.generate.state import load_state

    state = load_state(settings.sources_dir) if settings.sources_dir.exists() else None
    if state is not None:
        return state.first_day
    return today - dt.timedelta(days=DEFAULT_HISTORY_DAYS)


def daily_partitions(start: dt.date) -> DailyPartitionsDefinition:
    """One partition per UTC day from ``start`` up to and including today (``end_offset=1``): today's
    partition is what the morning schedule and the arrival sensor run."""
    return DailyPartitionsDefinition(start_date=start.isoformat(), end_offset=1, timezone="UTC")


def end_of_day(day: dt.date) -> dt.datetime:
    """The last second of ``day``: the as-of of ``lifecycle run --as-of YYYY-MM-DD``."""
    return dt.datetime.combine(day, dt.time(23, 59, 59))


def partition_as_of(partition_key: str, started_at: dt.datetime) -> dt.datetime:
    """The as-of of a run of ``partition_key`` started at ``started_at`` (naive UTC)."""
    return min(end_of_day(dt.date.fromisoformat(partition_key)), started_at.replace(microsecond=0))


def parse_as_of(text: str) -> dt.datetime:
    """An explicit as-of (``lifecycle/as_of`` tag): an ISO timestamp, made naive UTC."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"{AS_OF_TAG}={text!r} is not an ISO timestamp") from exc
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


def run_as_of(context: StepContext) -> dt.datetime:
    """The as-of of the run ``context`` belongs to; the same in every step and retry of that run (it
    depends only on the run's tags and the moment the run started)."""
    tags = context.run.tags
    if AS_OF_TAG in tags:
        try:
            return parse_as_of(tags[AS_OF_TAG])
        except InputError as error:
            raise Failure(description=str(error), allow_retries=False) from error
    key = run_partition(tags)
    if key is None:
        raise Failure(
            description="the lifecycle's assets run one day at a time: materialise a partition (a day)",
            allow_retries=False,
        )
    record = context.instance.get_run_record_by_id(context.run.run_id)
    started = time.time()
    if record is not None:
        started = record.start_time or record.create_timestamp.timestamp()
    return partition_as_of(key, dt.datetime.fromtimestamp(started, dt.UTC).replace(tzinfo=None))


def run_partition(tags: Mapping[str, str]) -> str | None:
    """The one day a run covers (a backfill's run carries it as a range of one day), or None."""
    start, end = (tags.get(tag) for tag in RANGE_TAGS)
    if start is not None and start == end:
        return start
    return tags.get(PARTITION_TAG)


def run_label(context: StepContext) -> str:
    """The run id the gates record their verdicts and history under."""
    return f"dagster-{context.run.run_id}"
