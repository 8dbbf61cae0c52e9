"""``lifecycle validate``: run the expectation suites in ``expectations/`` against the warehouse with GE.

One ephemeral GE context per run: a SQL datasource on the warehouse file (opened read-only, so every metric
is computed by DuckDB), per checked table a table asset, a whole-table batch definition and one validation
definition (its dimensions' suites merged into one), one checkpoint per layer, and Data Docs built into
``<site_dir>/gx``. Suites are code, rebuilt each run, so the context keeps nothing between runs; the run's
history goes to ``audit.quality_results``.
"""

from __future__ import annotations

import datetime
import os
import shutil
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import duckdb
import great_expectations as gx
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

from lifecycle.config import Settings
from lifecycle.errors import LifecycleError
from lifecycle.quality import data_docs_assets, gx_duckdb
from lifecycle.quality.report import ExpectationOutcome, Status, ValidationReport, record_history
from lifecycle.quality.restatements import accepted_days
from lifecycle.quality.suites import TableSuites, load_suites
from lifecycle.quality.window import audit_since
from lifecycle.storage import connect

__all__ = ["ValidationReport", "record_history", "validate"]

DATASOURCE = "warehouse"
DOCS_SITE = "lifecycle"
MISSING_TABLE = "skipped: table missing"
_MAX_OBSERVED = 240
#: BASIC: success, unexpected count and up to 20 unexpected values per expectation, all the report shows.
#: SUMMARY would add a value-count query per expectation (≈ 15 % of the checkpoints' time) for Data Docs.
RESULT_FORMAT: Literal["BASIC"] = "BASIC"


def validate(
    settings: Settings,
    *,
    as_of: datetime.datetime,
    layers: Sequence[str] | None = None,
    tables: Collection[str] | None = None,
    data_docs: bool = True,
    progress: Callable[[str], None] | None = None,
) -> ValidationReport:
    """Validate the warehouse tables that have suites (in ``layers`` and named in ``tables`` only, if
    given) as of ``as_of``, then build Data Docs (unless ``data_docs`` is False: a check that reads only
    the outcomes saves the rendering).

    Suites of tables not (yet) in the warehouse are reported as skipped. The caller decides what a failed
    gate means (``report.passed`` is False when a critical expectation failed): typically raise GateFailed.
    """
    say = progress or (lambda _message: None)
    warehouse = settings.warehouse_path
    if not warehouse.exists():
        raise LifecycleError(
            f"No warehouse at {warehouse}: run `lifecycle ingest` and `lifecycle transform` first."
        )
    checked_at = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    declared = load_suites(
        settings.project_dir / "expectations",
        as_of=as_of,
        layers=layers,
        audit_since=audit_since(settings, as_of),
        accepted_days=frozenset(datetime.date.fromisoformat(day) for day in accepted_days(settings)),
    )
    if tables is not None:
        unknown = set(tables) - {t.table for t in declared}
        if unknown:
            raise LifecycleError(f"no expectation suite for table(s) {', '.join(sorted(unknown))}")
    checked_tables = [t for t in declared if tables is None or t.table in tables]
    present = _existing_tables(warehouse)
    suite_count = sum(len(t.suites) for t in checked_tables)
    say(f"{suite_count} suites on {len(checked_tables)} tables in {warehouse.name}")

    gx_duckdb.install()
    docs_dir = settings.site_dir / "gx"
    context = _ephemeral_context(docs_dir)
    datasource = context.data_sources.add_sql(
        name=DATASOURCE,
        connection_string=f"duckdb:///{warehouse}",
        kwargs={"connect_args": {"read_only": True}},
    )
    outcomes: list[ExpectationOutcome] = []
    try:
        for layer in dict.fromkeys(t.layer for t in checked_tables):
            checked: list[TableSuites] = []
            definitions = []
            for table in (t for t in checked_tables if t.layer == layer):
                if (layer, table.table) not in present:
                    say(f"{layer}.{table.table}: {MISSING_TABLE}")
                    outcomes += _skipped(table)
                    continue
                with warnings.catch_warnings():
                    # GE 1.24 deprecates schema_name for "the schema in the connection configuration", but
                    # DuckDB cannot take one there (read-only connect rejects schema/search_path options).
                    warnings.filterwarnings("ignore", "`schema_name` is deprecated", DeprecationWarning)
                    asset = datasource.add_table_asset(
                        name=f"{layer}.{table.table}", table_name=table.table, schema_name=layer
                    )
                batch = asset.add_batch_definition_whole_table(name="whole table")
                suite = context.suites.add(_table_suite(table))
                definitions.append(
                    context.validation_definitions.add(
                        gx.ValidationDefinition(name=suite.name, data=batch, suite=suite)
                    )
                )
                checked.append(table)
            if not definitions:
                continue
            checkpoint = context.checkpoints.add(
                gx.Checkpoint(name=layer, validation_definitions=definitions, result_format=RESULT_FORMAT)
            )
            suites = sum(len(table.suites) for table in checked)
            say(f"checkpoint {layer}: {suites} suites on {len(checked)} tables")
            result = checkpoint.run(
                run_id=RunIdentifier(run_name=f"as of {as_of:%Y-%m-%d}", run_time=checked_at)
            )
            outcomes += _outcomes(result.run_results.values(), checked)
    finally:
        _close(datasource)

    if data_docs:
        say(f"building Data Docs in {docs_dir}")
        shutil.rmtree(docs_dir, ignore_errors=True)
        context.build_data_docs(site_names=[DOCS_SITE])
        data_docs_assets.localize(docs_dir, settings.web_assets_dir)
    return ValidationReport(
        as_of=as_of, checked_at=checked_at, outcomes=tuple(outcomes), data_docs=docs_dir / "index.html"
    )


def _table_suite(table: TableSuites) -> gx.ExpectationSuite:
    """One GE suite per table holding every dimension's expectations (their meta keeps the dimension).

    GE's cost is per suite as much as per expectation (column reflection, metric graphs, store lookups):
    validating a table once instead of once per dimension takes about a fifth off the checkpoints.
    Outcomes are reported under the declared ``<layer>.<table>.<dimension>`` suite names again.
    """
    return gx.ExpectationSuite(
        name=table.name,
        expectations=[expectation for suite in table.suites for expectation in suite.expectations],
    )


def _ephemeral_context(docs_dir: Path) -> Any:
    # GE 1.24 sends no usage statistics, but say so twice (env and config) in case a release starts again.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
        data_docs_sites={
            DOCS_SITE: {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
        },
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _existing_tables(warehouse: Path) -> set[tuple[str, str]]:
    try:
        with connect(warehouse, read_only=True) as con:
            rows = con.execute("select table_schema, table_name from information_schema.tables").fetchall()
    except duckdb.Error as error:
        raise LifecycleError(
            f"Cannot open {warehouse} read-only ({error}); is another process (dbt?) writing to it?"
        ) from error
    return {(schema, name) for schema, name in rows}


def _close(datasource: Any) -> None:
    # Release the read-only file handles now, so a writer (record_history, dbt) can open the warehouse next.
    datasource.get_execution_engine().engine.dispose()
    datasource.get_engine().dispose()


def _skipped(table: TableSuites) -> list[ExpectationOutcome]:
    return [
        _outcome(
            table,
            suite.name,
            expectation.configuration,
            "skipped",
            MISSING_TABLE,
        )
        for suite in table.suites
        for expectation in suite.expectations
    ]


def _outcomes(suite_results: Any, tables: list[TableSuites]) -> list[ExpectationOutcome]:
    table_of = {table.name: table for table in tables}
    outcomes = []
    for suite_result in suite_results:
        table = table_of[suite_result.suite_name]
        for result in suite_result.results:
            config = result.expectation_config
            error = _exception_message(result.exception_info)
            status: Status = "error" if error else ("passed" if result.success else "failed")
            observed = f"error: {error}" if error else _observed(config.type, result.result or {})
            suite = f"{suite_result.suite_name}.{(config.meta or {}).get('dimension', '')}"
            outcomes.append(_outcome(table, suite, config, status, observed))
    return outcomes


def _outcome(
    table: TableSuites,
    suite: str,
    config: ExpectationConfiguration,
    status: Status,
    observed: str,
) -> ExpectationOutcome:
    kwargs, meta = config.kwargs, config.meta or {}
    columns = kwargs.get("column_list") or [
        kwargs[k] for k in ("column", "column_A", "column_B") if kwargs.get(k)
    ]
    return ExpectationOutcome(
        suite=suite,
        table=table.table,
        layer=table.layer,
        dimension=str(meta.get("dimension", "")),
        severity=str(meta.get("severity", "")),
        expectation=config.type,
        column=", ".join(columns) or None,
        description=config.description,
        rule=str(meta.get("rule", "")),
        status=status,
        observed=_truncate(observed),
        owner=str(meta.get("owner", "")),
        runbook=str(meta.get("runbook", "")),
    )


def _exception_message(info: Mapping[str, Any] | None) -> str | None:
    """GE reports a raised exception either directly or keyed by the metric that raised it."""
    if not info:
        return None
    candidates = (
        [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, Mapping)]
    )
    for candidate in candidates:
        if candidate.get("raised_exception"):
            return str(candidate.get("exception_message") or "exception without message").splitlines()[0]
    return None


def _observed(expectation: str, result: Mapping[str, Any]) -> str:
    if "observed_value" in result:
        if expectation == "unexpected_rows_expectation":
            count = result["observed_value"]
            return f"{count} unexpected row{'' if count == 1 else 's'} (the query is in Data Docs)"
        return _text(result["observed_value"])
    if "unexpected_count" in result:
        text = f"{result['unexpected_count']} of {result.get('element_count')} rows unexpected"
        sample = result.get("partial_unexpected_list") or []
        if sample:
            text += ", e.g. " + ", ".join(_text(value) for value in sample[:5])
        return text
    return ""


def _text(value: object) -> str:
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    return str(value)


def _truncate(text: str) -> str:
    return text if len(text) <= _MAX_OBSERVED else text[: _MAX_OBSERVED - 1] + "…"
