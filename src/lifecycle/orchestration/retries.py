"""Which failures a step retries, and how: transient ones with backoff, a failed gate never.

Transient: another writer holds the data directory (``lifecycle.lock.Busy``) or a DuckDB file
(``Could not set lock``), or a source file could not be read yet (still being written). Every other error
is raised as a ``Failure`` that bypasses the retry policy: a gate that failed on the data fails again on
the same data, and a bug or a broken configuration needs a person, not a loop.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

import duckdb
from dagster import Backoff, DagsterInstance, DagsterLogManager, DagsterRun, Failure, Jitter, RetryPolicy

from lifecycle.config import Settings
from lifecycle.errors import GateFailed
from lifecycle.lock import Busy, exclusive
from lifecycle.observability import history

#: Waits of about 10, 20, 40 and 80 s: together under ingestion's 5-minute clock-skew tolerance, so a
#: retried step of today's partition still lands what arrived while it waited.
RETRY_POLICY = RetryPolicy(max_retries=4, delay=10, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)


#: The stage that ends a daily run (the docs site, downstream of everything): its success ends the run's
#: record in the run history as succeeded.
LAST_STAGE = "docs"


class SourcesNotReady(Exception):
    """A source could not be landed on this attempt (e.g. a file still being written); retried."""


class StepContext(Protocol):
    """What the stages need of an asset's or an asset check's execution context."""

    @property
    def run(self) -> DagsterRun: ...

    @property
    def instance(self) -> DagsterInstance: ...

    @property
    def log(self) -> DagsterLogManager: ...


def is_transient(error: BaseException) -> bool:
    """Whether retrying later can succeed without anyone acting (looks through wrapped causes)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, GateFailed):
            return False
        if isinstance(current, Busy | SourcesNotReady):
            return True
        if isinstance(current, duckdb.IOException) and "lock" in str(current).lower():
            return True
        current = current.__cause__ or current.__context__
    return False


@contextmanager
def stage(context: StepContext, settings: Settings, name: str) -> Iterator[None]:
    """Run one stage holding the data directory's lock (one writer per data directory); transient errors
    propagate to the retry policy, every other error becomes a Failure that is not retried."""
    run_id, started_at = f"dagster-{context.run.run_id}", history.now()
    try:
        with exclusive(settings, f"orchestrate {name} (dagster run {context.run.run_id[:8]})"):
            try:
                yield
            except Exception as error:
                if not is_transient(error):  # a retried attempt is recorded once it ends
                    _record(settings, run_id, name, started_at, "failed", str(error))
                raise
            _record(settings, run_id, name, started_at, "ok", "")
            if name == LAST_STAGE:
                history.finish_run(settings, run_id)
    except Failure:
        raise
    except Exception as error:
        if is_transient(error):
            context.log.warning(f"{name}: transient failure, retried with backoff: {error}")
            raise
        raise Failure(description=f"{name}: {error}", allow_retries=False) from error


def _record(
    settings: Settings, run_id: str, name: str, started_at: dt.datetime, status: str, detail: str
) -> None:
    """The stage in the run history, as ``lifecycle run`` records its (run id: the gates' run label)."""
    history.record_stage(
        settings,
        run_id,
        name,
        trigger="dagster",
        as_of=None,
        started_at=started_at,
        status=status,
        detail=detail,
    )
