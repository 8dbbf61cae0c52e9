"""The quality gates' outcomes as Dagster asset checks: which check owns which suite's result.

The gates (``lifecycle.quality.gates``) judge and record one verdict each; a check here only shows, on the
asset it concerns, the part of that verdict about it. A Great Expectations suite is named
``<layer>.<table>.<dimension>``: the raw suites of a source land on that source's raw asset
(``raw_suites``), the other layers' on the dbt model of that table (``great_expectations``). Two gate
outcomes judge several tables at once and are shown on each of them: the ingestion contract (quarantine
share, deliveries that could not land) on every raw asset, restated settled figures on the marts they
compare (``settled_figures``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from dagster import AssetCheckKey, AssetKey

SOURCES = ("app", "events", "ads")
#: The marts the restatement gate compares with the published ones (``quality.restatements``).
RESTATED_MARTS = ("fct_orders", "fct_marketing_daily")

RAW_SUITES = "raw_suites"
INGESTION_CONTRACT = "ingestion_contract"
GREAT_EXPECTATIONS = "great_expectations"
SETTLED_FIGURES = "settled_figures"


def raw_key(source: str) -> AssetKey:
    return AssetKey(["raw", source])


def tables_with_suites(expectations_dir: Path) -> list[tuple[str, str]]:
    """(layer, table) of every suite module, ``expectations/<layer>/<table>.py``."""
    return sorted(
        (path.parent.name, path.stem)
        for path in expectations_dir.glob("*/*.py")
        if not path.name.startswith("_")
    )


def raw_check_keys(expectations_dir: Path) -> list[AssetCheckKey]:
    """The checks of the early gate (``audit raw``): per source, its raw suites and the ingestion contract."""
    with_suites = {
        _source_of(table) for layer, table in tables_with_suites(expectations_dir) if layer == "raw"
    }
    keys = [AssetCheckKey(raw_key(s), RAW_SUITES) for s in SOURCES if s in with_suites]
    return keys + [AssetCheckKey(raw_key(s), INGESTION_CONTRACT) for s in SOURCES]


def build_check_keys(expectations_dir: Path, models: Iterable[AssetKey]) -> list[AssetCheckKey]:
    """The checks of the gate after dbt (``validate``): each modelled table's suites, restatements."""
    present = set(models)
    keys = [
        AssetCheckKey(AssetKey([layer, table]), GREAT_EXPECTATIONS)
        for layer, table in tables_with_suites(expectations_dir)
        if layer != "raw" and AssetKey([layer, table]) in present
    ]
    restated = [AssetKey(["marts", table]) for table in RESTATED_MARTS]
    return keys + [AssetCheckKey(key, SETTLED_FIGURES) for key in restated if key in present]


def checks_of_suite(suite: str) -> list[AssetCheckKey]:
    """The checks that show the outcome of ``suite`` (``<layer>.<table>.<dimension>``)."""
    layer, table = suite.split(".")[:2]
    if layer == "raw" and table == "ingestion":
        return [AssetCheckKey(raw_key(s), INGESTION_CONTRACT) for s in SOURCES]
    if layer == "raw":
        return [AssetCheckKey(raw_key(_source_of(table)), RAW_SUITES)]
    if table == "restatements":
        return [AssetCheckKey(AssetKey([layer, t]), SETTLED_FIGURES) for t in RESTATED_MARTS]
    return [AssetCheckKey(AssetKey([layer, table]), GREAT_EXPECTATIONS)]


def failures_by_check(failed: Sequence[str]) -> dict[AssetCheckKey, list[str]]:
    """A gate verdict's failed checks (``<suite>: <expectation> [<observed>]``) grouped by asset check."""
    grouped: dict[AssetCheckKey, list[str]] = {}
    for line in failed:
        for key in checks_of_suite(line.split(":", 1)[0].strip()):
            grouped.setdefault(key, []).append(line)
    return grouped


def _source_of(raw_table: str) -> str:
    """Raw tables are ``<source>_<entity>`` (``app_orders``, ``events_clickstream``, ``ads_spend``)."""
    return raw_table.split("_", 1)[0]
