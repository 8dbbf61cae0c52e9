"""Quarantine is a gate: a source file that lost more than a handful of its records, or a file that could not
be landed at all, blocks publication, naming the file and the reasons.

Judged on what landed since the current publication was made. A few malformed lines are the normal defect
rate of a feed and pass; the contract with each source is that at most ``MAX_SHARE`` of a file's records
may be unusable. A small file's share is noisy (one bad line in 50 is 2 %), so a file fails only when its
quarantined count is significantly above that share: when a feed honouring the contract would quarantine
that many or more with a probability below ``SIGNIFICANCE`` (exact binomial tail; the one-sided
probability of a three-sigma event). Three bad lines out of three fail; one out of one does not.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from pathlib import Path

from lifecycle.config import Settings
from lifecycle.storage import connect_warehouse, quote_ident, quote_literal

#: The share of a file's records a source may lose to quarantine (the data contract with each source).
MAX_SHARE = 0.01
#: How unlikely a file's quarantined count must be under the contract to block: a three-sigma event.
SIGNIFICANCE = 0.00135


def tail_probability(read: int, quarantined: int, share: float = MAX_SHARE) -> float:
    """P(at least ``quarantined`` of ``read`` records are bad) when each is bad with probability ``share``."""
    if quarantined <= 0:
        return 1.0
    if quarantined > read:
        return 0.0

    def pmf(k: int) -> float:
        log = (
            math.lgamma(read + 1)
            - math.lgamma(k + 1)
            - math.lgamma(read - k + 1)
            + k * math.log(share)
            + (read - k) * math.log1p(-share)
        )
        return math.exp(log)

    return max(0.0, 1.0 - math.fsum(pmf(k) for k in range(quarantined)))


@dataclass(frozen=True)
class QuarantinedFile:
    source: str
    source_file: str
    read: int
    quarantined: int
    reasons: str

    @property
    def probability(self) -> float:
        return tail_probability(self.read, self.quarantined)

    @property
    def too_many(self) -> bool:
        return self.probability < SIGNIFICANCE

    def describe(self) -> str:
        return (
            f"{self.source_file}: {self.quarantined} of {self.read} records quarantined (p = "
            f"{self.probability:.1e} under the {MAX_SHARE:.0%} contract): {self.reasons}"
        )


@dataclass(frozen=True)
class FailedLoad:
    source: str
    error: str
    failed_at: dt.datetime

    def describe(self) -> str:
        return f"{self.source} could not be landed at {self.failed_at:%Y-%m-%d %H:%M}: {self.error[:300]}"


def landed_files(settings: Settings, since: dt.datetime) -> list[QuarantinedFile]:
    """Per source file landed after ``since``, then per source: records read (loaded + quarantined) and
    quarantined."""
    with connect_warehouse(settings, read_only=True) as con:
        tables = con.execute(
            "select table_name from duckdb_columns() where schema_name = 'raw'"
            " and column_name = '_source_file' and not starts_with(table_name, '_')"
        ).fetchall()
        if not tables:
            return []
        loaded = " union all ".join(
            f"select split_part({quote_literal(t)}, '_', 1) as source, _source_file as source_file,"
            f" count(*) as rows from raw.{quote_ident(t)} where _ingested_at > $since group by all"
            for (t,) in tables
        )
        rows = con.execute(
            f"""
            with loaded as (
                select source, source_file, sum(rows) as rows from ({loaded}) group by all
            ),
            quarantined as (
                select
                    source,
                    source_file,
                    count(*) as rows,
                    string_agg(reason || ' (' || n || ')', '; ' order by n desc) as reasons
                from (
                    select source, source_file, reason, count(*) as n
                    from raw._quarantine
                    where quarantined_at > $since
                    group by all
                )
                group by all
            )
            select
                coalesce(loaded.source, quarantined.source),
                coalesce(loaded.source_file, quarantined.source_file),
                coalesce(loaded.rows, 0) + coalesce(quarantined.rows, 0),
                coalesce(quarantined.rows, 0),
                coalesce(quarantined.reasons, '')
            from loaded
            full outer join quarantined
                on loaded.source = quarantined.source and loaded.source_file = quarantined.source_file
            order by 2
            """,
            {"since": since},
        ).fetchall()
    files = [QuarantinedFile(*row) for row in rows]
    # Every source as a whole too: small files hide a source-wide problem (two bad lines in each file of
    # twenty are not significant file by file, but are over the whole day).
    by_source: dict[str, list[QuarantinedFile]] = {}
    for file in files:
        by_source.setdefault(file.source, []).append(file)
    totals = [
        QuarantinedFile(
            source,
            f"all {len(group)} {source} file(s) landed since the publication",
            sum(f.read for f in group),
            sum(f.quarantined for f in group),
            "; ".join(f.reasons for f in group if f.reasons)[:500],
        )
        for source, group in sorted(by_source.items())
        if len(group) > 1
    ]
    return files + totals


def failed_loads(settings: Settings, since: dt.datetime) -> list[FailedLoad]:
    """Loads that failed after ``since`` and were not made good since.

    A file that failed (truncated, unreadable) is made good when it lands later (the manifest names it) or
    when it is gone from the sources (an operator removed a broken delivery); a failed read of the
    application database when a later read of it succeeded.
    """
    with connect_warehouse(settings, read_only=True) as con:
        rows = con.execute(
            """
            select failed.source, failed.error, failed.finished_at
            from raw._ingest_log as failed
            where failed.status = 'failed' and failed.finished_at > $since
                and not exists (
                    select 1 from raw._manifest as landed
                    where contains(failed.error, landed.path) and landed.loaded_at > failed.finished_at
                )
                and not exists (
                    select 1 from raw._ingest_log as later
                    where failed.source = 'app' and later.source = 'app' and later.status = 'success'
                        and later.finished_at > failed.finished_at
                )
            order by failed.finished_at
            """,
            {"since": since},
        ).fetchall()
    failures = [FailedLoad(*row) for row in rows]
    return [f for f in failures if f.source == "app" or _named_file_exists(settings, f.error)]


def _named_file_exists(settings: Settings, error: str) -> bool:
    """Whether the source file an ingestion error names is still there (True if it names none)."""
    named = re.findall(r"[\w./-]+\.(?:json\.gz|csv)", error)
    if not named:
        return True
    return any(Path(name).exists() or (settings.sources_dir / name).exists() for name in named)
