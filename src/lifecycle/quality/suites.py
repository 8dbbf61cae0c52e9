"""Find the expectation suites in ``expectations/<layer>/<table>.py`` and check each declares its consequence.

A suite module defines ``build_suites(ctx: SuiteContext) -> list[gx.ExpectationSuite]``, one suite per quality
dimension, named ``<layer>.<table>.<dimension>``; every expectation's ``meta`` comes from :func:`meta`.
What the dbt project already declares (vars, owners, source freshness limits, accepted values, seeds) suites
read from it through ``ctx.dbt`` (:class:`DbtProject`) instead of writing it a second time.
"""

from __future__ import annotations

import csv
import datetime
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import jinja2

from lifecycle.config import read_yaml
from lifecycle.errors import LifecycleError

if TYPE_CHECKING:
    from great_expectations import ExpectationSuite

Dimension = Literal["accuracy", "completeness", "timeliness"]
Severity = Literal["critical", "warning"]

DIMENSIONS: tuple[str, ...] = get_args(Dimension)
SEVERITIES: tuple[str, ...] = get_args(Severity)
#: Warehouse schemas, in pipeline order; an ``expectations/`` folder per layer that has checks.
LAYERS: tuple[str, ...] = ("raw", "staging", "intermediate", "marts")


#: dbt's freshness periods (``warn_after: {count: 6, period: hour}``) in seconds.
_PERIODS = {"minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class Freshness:
    """A source's freshness limits as dbt declares them: how old its newest data may be before a warning
    (``warn_after``) and before an error (``error_after``); ``None`` when that limit is not set."""

    warn_after: datetime.timedelta | None
    error_after: datetime.timedelta | None

    def limits(self) -> list[tuple[str, Severity, datetime.timedelta]]:
        """Each declared limit with its severity here: beyond ``warn_after`` warns, ``error_after`` blocks."""
        declared: list[tuple[str, Severity, datetime.timedelta | None]] = [
            ("warn_after", "warning", self.warn_after),
            ("error_after", "critical", self.error_after),
        ]
        return [(name, severity, limit) for name, severity, limit in declared if limit is not None]


def hours(delta: datetime.timedelta) -> str:
    """A freshness limit as people say it in a rule: ``6 h``, ``54 h``."""
    return f"{delta / datetime.timedelta(hours=1):g} h"


def oldest_fresh_day(as_of: datetime.datetime, limit: datetime.timedelta) -> datetime.date:
    """The oldest newest-day a table of daily rows may have at ``as_of`` within ``limit``: a day's row is
    current until that day ends, so day D is fresh while D + 1 day ≥ as_of − limit."""
    oldest = as_of - limit - datetime.timedelta(days=1)
    return oldest.date() if oldest.time() == datetime.time() else oldest.date() + datetime.timedelta(days=1)


class DbtProject:
    """The dbt project's declarations, read from its YAML, so a suite reuses a rule instead of retyping it.

    Vars come from ``dbt_project.yml``; owners from ``meta.owner`` (a model's ``config:``, else its folder's
    ``+meta`` in ``dbt_project.yml``; a source table's, else its source's); freshness limits from the
    sources' ``config: freshness:``; accepted values from a model column's ``accepted_values`` test; seeds
    from their CSV. Files are read when first asked for, so a project without them fails only there.
    """

    def __init__(self, project_dir: Path) -> None:
        self.project_dir = project_dir

    def var(self, name: str) -> Any:
        """A var's value as declared in ``dbt_project.yml`` (the one place it is set)."""
        value = (self._project.get("vars") or {}).get(name)
        if value is None:
            raise LifecycleError(f"{self._project_file}: no value for var {name!r} under vars:.")
        return value

    def freshness(self, raw_table: str) -> Freshness:
        """Freshness limits of the source table landed as ``raw.<raw_table>`` (its own, else its source's)."""
        source, table = self._source_table(raw_table)
        declared = _config(table).get("freshness", _config(source).get("freshness"))
        if not declared:
            raise LifecycleError(
                f"{self._source_files[source['name']]}: source table for raw.{raw_table} declares no "
                "config: freshness: (warn_after, error_after)."
            )
        return Freshness(
            warn_after=_period(declared.get("warn_after")), error_after=_period(declared.get("error_after"))
        )

    def accepted_values(self, model: str, column: str) -> list[Any]:
        """The values of the ``accepted_values`` test on ``model.column`` in the model's properties YAML."""
        path, node = self._model(model)
        for declared in node.get("columns") or []:
            if declared.get("name") != column:
                continue
            for test in declared.get("data_tests") or []:
                if isinstance(test, dict) and "accepted_values" in test:
                    arguments = test["accepted_values"].get("arguments") or test["accepted_values"]
                    return list(arguments["values"])
        raise LifecycleError(f"{path}: {model}.{column} has no accepted_values test to read the values from.")

    def macro(self, name: str, *arguments: str) -> str:
        """The SQL of a business-rule macro of ``macros/business_rules.sql`` applied to ``arguments`` (column
        names or expressions), e.g. ``macro("order_value", "gross_revenue", "discount_amount")``: suites
        check a rule as dbt defines it instead of retyping it. Those macros use plain Jinja only."""
        path = self.project_dir / "macros" / "business_rules.sql"
        module = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(path.read_text()).module
        macro = getattr(module, name, None)
        if macro is None:
            raise LifecycleError(f"{path}: no macro {name!r}.")
        return str(macro(*arguments)).strip()

    def seed(self, name: str) -> list[dict[str, str]]:
        """The rows of ``seeds/<name>.csv``, as dbt loads them (values as text)."""
        path = self.project_dir / "seeds" / f"{name}.csv"
        if not path.exists():
            raise LifecycleError(f"{path}: no such seed.")
        with path.open(newline="", encoding="utf-8") as rows:
            return list(csv.DictReader(rows))

    def owner(self, layer: str, table: str) -> str | None:
        """Who answers for ``<layer>.<table>``: its source's owner for raw tables, else its model's."""
        if layer == "raw":
            try:
                source, declared = self._source_table(table)
            except LifecycleError:
                return None
            # A table's meta adds to its source's, as dbt merges them.
            meta = {**(_config(source).get("meta") or {}), **(_config(declared).get("meta") or {})}
            return meta.get("owner")
        try:
            path, node = self._model(table)
        except LifecycleError:
            return None
        owner = (_config(node).get("meta") or {}).get("owner")
        if owner:
            return str(owner)
        # dbt_project.yml: models: <project>: [+meta], <folder>: [+meta], <subfolder>: ... (innermost wins).
        level = (self._project.get("models") or {}).get(self._project.get("name"), {})
        found = (level.get("+meta") or {}).get("owner")
        for folder in path.parent.relative_to(self.project_dir / "models").parts:
            level = level.get(folder) or {}
            found = (level.get("+meta") or {}).get("owner", found)
        return found

    @cached_property
    def _project_file(self) -> Path:
        return self.project_dir / "dbt_project.yml"

    @cached_property
    def _project(self) -> dict[str, Any]:
        if not self._project_file.exists():
            raise LifecycleError(f"{self._project_file}: not found; suites read vars and owners from it.")
        return read_yaml(self._project_file) or {}

    @cached_property
    def _properties(self) -> list[tuple[Path, dict[str, Any]]]:
        """Every YAML file under models/, parsed: ``_<folder>__models.yml`` and ``_<source>__sources.yml``."""
        paths = sorted((self.project_dir / "models").rglob("*.yml"))
        return [(path, read_yaml(path) or {}) for path in paths]

    @cached_property
    def _source_files(self) -> dict[str, Path]:
        return {s["name"]: path for path, doc in self._properties for s in doc.get("sources") or []}

    def _source_table(self, raw_table: str) -> tuple[dict[str, Any], dict[str, Any]]:
        for _path, doc in self._properties:
            for source in doc.get("sources") or []:
                for table in source.get("tables") or []:
                    if table.get("identifier", table.get("name")) == raw_table:
                        return source, table
        raise LifecycleError(f"raw.{raw_table} is not a source table of models/**/_*__sources.yml.")

    def _model(self, name: str) -> tuple[Path, dict[str, Any]]:
        for path, doc in self._properties:
            for node in doc.get("models") or []:
                if node.get("name") == name:
                    return path, node
        raise LifecycleError(f"Model {name!r} has no properties in models/**/_*__models.yml.")


def _config(node: dict[str, Any]) -> dict[str, Any]:
    return node.get("config") or {}


def _period(limit: dict[str, Any] | None) -> datetime.timedelta | None:
    if not limit or limit.get("count") is None:
        return None
    return datetime.timedelta(seconds=int(limit["count"]) * _PERIODS[str(limit["period"])])


@dataclass(frozen=True)
class SuiteContext:
    """What a suite module is given: the table it checks, the moment its data should be current at, and the
    dbt project whose declarations it reuses."""

    layer: str
    table: str
    as_of: datetime.datetime
    dbt: DbtProject
    #: Where new data starts (``quality.window``): checks of new data judge only what came after it.
    #: ``None`` (suites loaded outside a run, e.g. by the benchmark): the day before the as-of.
    audit_since: datetime.datetime | None = None
    #: Days whose figures an operator accepted as they are (``--accept-restatement``): checks of new data
    #: leave them out.
    accepted_days: frozenset[datetime.date] = frozenset()

    @property
    def new_data_since(self) -> datetime.datetime:
        """The exclusive lower bound of the event times this run judges as new data."""
        if self.audit_since is not None:
            return self.audit_since
        return datetime.datetime.combine(self.as_of_date - datetime.timedelta(days=1), datetime.time())

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


def meta(
    *,
    rule: str,
    dimension: Dimension,
    severity: Severity,
    runbook: str | None = None,
    owner: str | None = None,
) -> dict[str, str]:
    """An expectation's ``meta``: the business rule it protects, what its failure means and who acts on it.

    ``critical`` blocks publication; ``warning`` is reported and publication goes ahead. A critical
    expectation needs a ``runbook`` (see :func:`runbook`). ``owner`` defaults to the checked table's owner
    as the dbt project declares it (:meth:`DbtProject.owner`), filled in when the suites are loaded.
    """
    declared = {"rule": rule, "dimension": dimension, "severity": severity}
    if runbook:
        declared["runbook"] = runbook
    if owner:
        declared["owner"] = owner
    return declared


def runbook(*, means: str, look: str, fix: str) -> str:
    """A check's runbook in one line: what a failure means, what to look at, how to fix it or accept it."""
    return f"Means: {means} Look at: {look} Fix or accept: {fix}"


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
    expectations_dir: Path,
    *,
    as_of: datetime.datetime,
    layers: Sequence[str] | None = None,
    audit_since: datetime.datetime | None = None,
    accepted_days: frozenset[datetime.date] = frozenset(),
) -> list[TableSuites]:
    """Build the suites of each ``<layer>/<table>.py`` in ``expectations_dir`` (only ``layers``, if given)."""
    if layers is not None:
        unknown = sorted(set(layers) - set(LAYERS))
        if unknown:
            raise LifecycleError(f"Unknown layer(s) {', '.join(unknown)}: choose from {', '.join(LAYERS)}.")
    project = DbtProject(expectations_dir.parent)
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
        context = SuiteContext(
            layer=layer,
            table=table,
            as_of=as_of,
            dbt=project,
            audit_since=audit_since,
            accepted_days=accepted_days,
        )
        suites = list(build(context))
        owner = project.owner(layer, table)
        for suite in suites:
            _check_suite(path, layer, table, suite, owner)
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


def _check_suite(path: Path, layer: str, table: str, suite: ExpectationSuite, owner: str | None) -> None:
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
        if declared.get("severity") == "critical" and not declared.get("runbook"):
            raise LifecycleError(
                f"{where}: critical, but meta has no 'runbook'; say what a failure means, what to look at "
                "and how to fix or accept it (meta(runbook=runbook(...)))."
            )
        if not declared.get("owner"):
            if not owner:
                raise LifecycleError(
                    f"{where}: no owner; declare meta.owner on the dbt model or source of {layer}.{table}, "
                    "or pass meta(owner=...)."
                )
            expectation.meta = {**declared, "owner": owner}
