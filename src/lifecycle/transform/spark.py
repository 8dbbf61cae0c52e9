"""The project on Spark (dbt target ``spark``) from the Parquet lake, and the proof its marts equal DuckDB's.

The Spark build reads only the lake (``lake/raw/<table>/``) that ingestion writes beside the warehouse, so
both engines build from the same batches. Its marts are Parquet tables in Spark's warehouse folder, which
DuckDB reads directly: the comparison (``lifecycle.transform.equality``) needs no second Spark session.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

from lifecycle.config import Settings
from lifecycle.dbt_runner import DbtResult, run_dbt
from lifecycle.errors import LifecycleError
from lifecycle.storage import connect_warehouse, quote_ident, quote_literal
from lifecycle.transform.equality import TableComparison, compare

#: The schema whose tables are compared: what analysts and exports read.
MARTS_SCHEMA = "marts"
#: Tests that a Spark build runs: those of the marts and the singular ones (reconciliations). Staging and
#: intermediate tests guard the same rows on DuckDB every run; repeating them on Spark costs a Spark job
#: each and proves nothing the mart comparison does not.
SPARK_TEST_EXCLUDE = ("resource_type:test,path:models/staging", "resource_type:test,path:models/intermediate")


def spark_settings(settings: Settings) -> Settings:
    """The same data directory with dbt pointed at the ``spark`` target."""
    return dataclasses.replace(settings, dbt_target="spark")


def java_available() -> bool:
    return shutil.which("java") is not None


def build_on_spark(settings: Settings, *, as_of: dt.datetime | None = None) -> DbtResult:
    """``dbt build`` on Spark: seeds, snapshots, every model, the marts' tests. Artifacts: state/spark-*."""
    if not java_available():
        raise LifecycleError("java not found: Spark needs Java 17 (`make test-spark` installs it on Debian)")
    if not (settings.lake_dir / "raw").is_dir():
        raise LifecycleError(f"no Parquet lake at {settings.lake_dir / 'raw'}: run `lifecycle ingest` first")
    args = ["build", "--exclude-resource-type", "unit_test", "--exclude", *SPARK_TEST_EXCLUDE]
    return run_dbt(
        spark_settings(settings),
        args,
        as_of=as_of,
        target_dir=settings.state_dir / "spark-target",
        log_dir=settings.state_dir / "spark-logs",
    )


def spark_table_dir(settings: Settings, schema: str, table: str) -> Path:
    """Where Spark keeps a managed table of ``schema`` (Hive layout: ``<schema>.db/<table>``)."""
    return settings.spark_warehouse_dir / f"{schema}.db" / table


def compare_marts(settings: Settings) -> list[TableComparison]:
    """Compare every mart of the DuckDB warehouse with the Spark build's table of the same name."""
    results = []
    with connect_warehouse(settings, read_only=True) as con:
        marts = [
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables where table_schema = ? order by table_name",
                [MARTS_SCHEMA],
            ).fetchall()
        ]
        if not marts:
            raise LifecycleError(
                f"no tables in {MARTS_SCHEMA} of {settings.warehouse_path}: run a DuckDB build first"
            )
        for mart in marts:
            folder = spark_table_dir(settings, MARTS_SCHEMA, mart)
            if not any(folder.glob("*.parquet")):
                raise LifecycleError(f"Spark built no table {MARTS_SCHEMA}.{mart} (nothing at {folder})")
            spark = f"read_parquet({quote_literal(str(folder / '*.parquet'))})"
            duck = f"{MARTS_SCHEMA}.{quote_ident(mart)}"
            results.append(compare(con, f"{MARTS_SCHEMA}.{mart}", duck, spark))
    return results


def report(comparisons: list[TableComparison]) -> str:
    """Every mart's line (and the first differing rows of those that differ), then a summary line."""
    different = [c for c in comparisons if not c.equal]
    lines = [c.report("duckdb", "spark") for c in comparisons]
    lines.append(
        f"{len(comparisons) - len(different)} equal, {len(different)} different (DuckDB vs Spark marts)"
    )
    return "\n".join(lines)


def check_spark(
    settings: Settings,
    *,
    as_of: dt.datetime | None = None,
    build: bool = True,
    progress: Callable[[str], None] = lambda _: None,
) -> list[TableComparison]:
    """Build on Spark (unless ``build`` is False) and compare every mart with the DuckDB build's.

    Raises when a Spark node fails or any mart differs; the report names the first differing rows.
    """
    if build:
        result = build_on_spark(settings, as_of=as_of)
        if result.failures:
            names = ", ".join(f"{f.name} ({f.status})" for f in result.failures)
            raise LifecycleError(f"dbt build on Spark: {len(result.failures)} node(s) failed: {names}")
    comparisons = compare_marts(settings)
    text = report(comparisons)
    progress(text)
    if any(not c.equal for c in comparisons):
        raise LifecycleError("Spark's marts differ from DuckDB's:\n" + text)
    return comparisons
