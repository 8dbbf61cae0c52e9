"""Find the expectation suites in ``expectations/<layer>/<table>.py`` and check each declares its consequence.

A suite module defines ``build_suites(ctx: SuiteContext) -> list[gx.ExpectationSuite]``, one suite per quality
dimension, named ``<layer>.<table>.<dimension>``; every expectation's ``meta`` comes from :func:`meta`.
"""

from __future__ import annotations

import datetime
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from lifecycle.errors import LifecycleError

if TYPE_CHECKING:
    from great_expectations import ExpectationSuite

Dimension = Literal["accuracy", "completeness", "timeliness"]
Severity = Literal["critical", "warning"]

DIMENSIONS: tuple[str, ...] = get_args(Dimension)
SEVERITIES: tuple[str, ...] = get_args(Severity)
#: Warehouse schemas, in pipeline order; an ``expectations/`` folder per layer that has checks.
LAYERS: tuple[str, ...] = ("raw", "staging", "intermediate", "marts")


@dataclass(frozen=True)
class SuiteContext:
    """What a suite module is given: the table it checks and the moment its data should be current at."""

    layer: str
    table: str
    as_of: datetime.datetime

    @property
    def as_of_date(self) -> datetime.date:
        """The UTC calendar day of ``as_of`` (naive datetimes are taken to be UTC already)."""
        if self.as_of.tzinfo is not None:
            return self.as_of.astimezone(datetime.UTC).date()
        return self.as_of.date()

    @property
    def last_complete_day(self) -> datetime.date:
        """The newest day that is over at ``as_of``: the day incremental checks judge."""
        return self.as_of_date - datetime.timedelta(days=1)

    def suite_name(self, dimension: Dimension) -> str:
        return f"{self.layer}.{self.table}.{dimension}"


def meta(*, rule: str, dimension: Dimension, severity: Severity) -> dict[str, str]:
    """An expectation's ``meta``: the business rule it protects, and what its failure means.

    ``critical`` blocks publication; ``warning`` is reported and publication goes ahead.
    """
    return {"rule": rule, "dimension": dimension, "severity": severity}


@dataclass(frozen=True)
class TableSuites:
    """The suites one module declares for one warehouse table."""

    layer: str
    table: str
    path: Path
    suites: list[ExpectationSuite]

    @property
    def name(self) -> str:
        """``<layer>.<table>``: the prefix of its suites' names, and the name of the suite validate runs."""
        return f"{self.layer}.{self.table}"


def load_suites(
    expectations_dir: Path, *, as_of: datetime.datetime, layers: Sequence[str] | None = None
) -> list[TableSuites]:
    """Build the suites of each ``<layer>/<table>.py`` in ``expectations_dir`` (only ``layers``, if given)."""
    if layers is not None:
        unknown = sorted(set(layers) - set(LAYERS))
        if unknown:
            raise LifecycleError(f"Unknown layer(s) {', '.join(unknown)}: choose from {', '.join(LAYERS)}.")
    found = []
    for path in sorted(expectations_dir.glob("*/*.py")):
        layer, table = path.parent.name, path.stem
        if table.startswith("_") or (layers is not None and layer not in layers):
            continue
        if layer not in LAYERS:
            raise LifecycleError(f"{path}: folder {layer!r} is not a warehouse layer ({', '.join(LAYERS)}).")
        build = getattr(_import(path), "build_suites", None)
        if not callable(build):
            raise LifecycleError(f"{path}: define build_suites(ctx: SuiteContext) -> list[ExpectationSuite].")
        suites = list(build(SuiteContext(layer=layer, table=table, as_of=as_of)))
        for suite in suites:
            _check_suite(path, layer, table, suite)
        found.append(TableSuites(layer=layer, table=table, path=path, suites=suites))
    return found


def _import(path: Path) -> Any:
    # Loaded by path, like dbt reads models: expectations/ is project content, not an installed package.
    spec = importlib.util.spec_from_file_location(f"expectations.{path.parent.name}.{path.stem}", path)
    if spec is None or spec.loader is None:
        raise LifecycleError(f"{path}: cannot be imported as a Python module.")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_suite(path: Path, layer: str, table: str, suite: ExpectationSuite) -> None:
    prefix = f"{layer}.{table}."
    dimension = suite.name.removeprefix(prefix)
    if not suite.name.startswith(prefix) or dimension not in DIMENSIONS:
        raise LifecycleError(
            f"{path}: suite {suite.name!r} should be named {prefix}<dimension>, dimension one of "
            f"{', '.join(DIMENSIONS)}."
        )
    for expectation in suite.expectations:
        declared = expectation.meta or {}
        where = f"{path}: suite {suite.name}, {expectation.expectation_type}"
        if not declared.get("rule"):
            raise LifecycleError(
                f"{where}: meta has no 'rule'; say which business rule it protects (meta())."
            )
        if declared.get("dimension") != dimension:
            raise LifecycleError(
                f"{where}: meta dimension {declared.get('dimension')!r} is not {dimension!r}."
            )
        if declared.get("severity") not in SEVERITIES:
            raise LifecycleError(
                f"{where}: meta severity {declared.get('severity')!r} is not one of {', '.join(SEVERITIES)}."
            )
