"""The quality report page: Great Expectations results from ``audit.quality_results``, latest run and history.

An expectation that failed is *warned* when its severity is ``warning`` (reported) and *failed* otherwise
(``critical``: it blocks publication).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

import duckdb
from markupsafe import Markup

from lifecycle.docs.charts import STATUS_COLOURS, stacked_bars
from lifecycle.docs.layout import render_page

STATUSES = ("passed", "warned", "failed")


@dataclass(frozen=True)
class Result:
    run_id: str
    checked_at: dt.datetime
    suite: str
    layer: str
    dimension: str
    severity: str
    expectation: str
    success: bool
    observed: str | None

    @property
    def status(self) -> str:
        if self.success:
            return "passed"
        return "warned" if self.severity == "warning" else "failed"


def read_results(con: duckdb.DuckDBPyConnection) -> list[Result]:
    """Every recorded result, oldest run first; empty when validate has never recorded any."""
    exists = con.execute(
        "select count(*) from duckdb_tables() where schema_name = 'audit' and table_name = 'quality_results'"
    ).fetchone()
    if not exists or not exists[0]:
        return []
    rows = con.execute(
        "select run_id, checked_at, suite, layer, dimension, severity, expectation, success, observed"
        " from audit.quality_results order by checked_at, suite, expectation"
    ).fetchall()
    return [Result(*row) for row in rows]


def _counts(results: list[Result]) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for r in results:
        counts[r.status] += 1
    return counts


def runs_in_order(results: list[Result]) -> list[tuple[str, list[Result]]]:
    """The results grouped by run, oldest run first."""
    by_run: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        by_run[r.run_id].append(r)
    return sorted(by_run.items(), key=lambda item: min(str(r.checked_at) for r in item[1]))


def history_chart(results: list[Result]) -> Markup:
    """Passed, warned and failed expectations of the last 30 runs, as a chart."""
    runs = runs_in_order(results)[-30:]
    counts = [_counts(rs) for _, rs in runs]
    return stacked_bars(
        "Expectations per run (last 30 runs)",
        [str(min(r.checked_at for r in rs))[:16] for _, rs in runs],
        {s: [c[s] for c in counts] for s in STATUSES},
        colours=STATUS_COLOURS,
        unit="expectations",
    )


def render(results: list[Result]) -> str:
    """The quality report: the latest run by layer and dimension, its warnings and failures, the history."""
    if not results:
        return render_page("quality.html", "Quality report", run_id=None)
    runs = runs_in_order(results)
    run_id, latest = runs[-1]
    grouped: dict[tuple[str, str], list[Result]] = defaultdict(list)
    for r in latest:
        grouped[(r.layer, r.dimension)].append(r)
    by_dimension = [
        (layer, dimension, *(_counts(rs)[s] for s in STATUSES))
        for (layer, dimension), rs in sorted(grouped.items())
    ]
    history = [
        (rid, str(min(r.checked_at for r in rs))[:19], *_counts(rs).values()) for rid, rs in reversed(runs)
    ]
    return render_page(
        "quality.html",
        "Quality report",
        run_id=run_id,
        totals=_counts(latest),
        by_dimension=by_dimension,
        problems=sorted(
            (r for r in latest if r.status != "passed"), key=lambda r: (r.status != "failed", r.suite)
        ),
        history_chart=history_chart(results),
        history=history,
    )
