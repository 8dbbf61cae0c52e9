"""The pull-request check, step by step; nothing it does writes to a production file.

Production is what the last ``lifecycle run`` published: ``warehouse.duckdb`` and the dbt artifacts it kept in
``state/production``. The PR build writes only under ``$LIFECYCLE_DATA_DIR/ci``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from lifecycle.ci.changes import PreCommitResult, run_pre_commit
from lifecycle.ci.diff import PRODUCTION, MartDiff, attached, diff_mart
from lifecycle.ci.manifest import (
    Model,
    NodeResult,
    Source,
    breaking_changes,
    models,
    production_as_of,
    read_json,
    results,
    sources,
)
from lifecycle.config import PROJECT_DIR, Settings
from lifecycle.dbt_runner import run_dbt
from lifecycle.errors import LifecycleError
from lifecycle.quality.report import ValidationReport
from lifecycle.storage import connect, quote_ident, quote_literal, write_atomic

MARTS = "marts"
#: The dbt target of PR builds (profiles.yml): its own file, with production attached read-only.
TARGET = "pr"


@dataclass(frozen=True)
class PullRequestCheck:
    """Everything one check found; ``problems`` are the reasons it fails (a data diff alone is none)."""

    production: str
    as_of: dt.datetime
    pre_commit: PreCommitResult
    built: tuple[NodeResult, ...]
    dbt_error: str | None
    quality: ValidationReport | None
    diffs: tuple[MartDiff, ...]
    breaking: tuple[str, ...]

    @property
    def dbt_failures(self) -> list[NodeResult]:
        return [r for r in self.built if r.failed]

    @property
    def problems(self) -> list[str]:
        found = []
        if self.pre_commit.failed:
            found.append("pre-commit failed on the changed files")
        if self.dbt_error:
            found.append(self.dbt_error)
        if self.dbt_failures:
            found.append(f"dbt build: {len(self.dbt_failures)} failing node(s)")
        if self.quality is not None and not self.quality.passed:
            found.append(f"Great Expectations: {len(self.quality.failed_critical)} critical failure(s)")
        if self.breaking:
            found.append(f"{len(self.breaking)} breaking change(s) to contracted marts")
        return found

    @property
    def passed(self) -> bool:
        return not self.problems

    def to_markdown(self) -> str:
        from lifecycle.ci.report import render

        return render(self)


def ci_dir(settings: Settings) -> Path:
    return settings.data_dir / "ci"


def report_path(settings: Settings) -> Path:
    return ci_dir(settings) / "pr_report.md"


def check_pull_request(
    settings: Settings,
    *,
    base: str | None = None,
    pre_commit: bool = True,
    as_of: dt.datetime | None = None,
    progress: Callable[[str], None] = print,
) -> PullRequestCheck:
    """Run every step of the check against the production in ``settings.data_dir``; write the report.

    ``settings.project_dir`` is the changed project (the working tree); ``base`` the branch it merges into.
    """
    state = settings.production_state_dir
    if not settings.warehouse_path.exists() or not (state / "manifest.json").exists():
        raise LifecycleError(
            f"No production to compare with: {settings.warehouse_path} and {state / 'manifest.json'} are "
            "written by a successful `lifecycle run` (make run); run it first."
        )
    production_manifest = read_json(state / "manifest.json")
    results_file = state / "run_results.json"
    production_results = read_json(results_file) if results_file.exists() else {}
    production_models = models(production_manifest)
    databases = {m.database for m in production_models.values()}
    if databases - {PRODUCTION}:
        raise LifecycleError(
            f"Production models live in database(s) {sorted(databases)}, but the `{TARGET}` target in "
            f"profiles.yml attaches production as `{PRODUCTION}`: make the alias match."
        )
    as_of = as_of or _production_as_of(settings, production_results)
    folder = ci_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)

    progress("==> pre-commit on the changed files")
    if pre_commit:
        hooks = run_pre_commit(settings.project_dir, base)
    else:
        hooks = PreCommitResult("skipped", "turned off (--no-pre-commit)")
    progress(f"pre-commit: {hooks.status} ({hooks.detail})")

    progress(f"==> dbt build --select state:modified+ into {folder / 'pr.duckdb'}")
    pr_database = folder / "pr.duckdb"
    _fresh_database(pr_database, settings.warehouse_path, sources(production_manifest))
    built, dbt_error = _build(settings, folder, state, as_of)
    pr_manifest = folder / "target" / "manifest.json"
    pr_models = models(read_json(pr_manifest)) if pr_manifest.exists() else {}
    rebuilt = [
        pr_models[r.unique_id]
        for r in built
        if r.status == "success" and r.unique_id in pr_models and pr_models[r.unique_id].schema == MARTS
    ]

    quality = None
    if rebuilt:
        progress(f"==> Great Expectations on the rebuilt marts: {', '.join(m.name for m in rebuilt)}")
        quality = _validate(settings, folder, pr_database, rebuilt, as_of, progress)

    progress("==> data diff against production")
    with attached(settings.warehouse_path, pr_database) as con:
        diffs = tuple(diff_mart(con, m.schema, m.name, m.primary_key) for m in rebuilt)
    breaking = breaking_changes(production_models, pr_models, diffs) if pr_models else []

    check = PullRequestCheck(
        production=_describe_production(settings, production_manifest),
        as_of=as_of,
        pre_commit=hooks,
        built=tuple(built),
        dbt_error=dbt_error,
        quality=quality,
        diffs=diffs,
        breaking=tuple(breaking),
    )
    write_atomic(report_path(settings), check.to_markdown())
    return check


def _fresh_database(path: Path, warehouse: Path, declared: Sequence[Source]) -> None:
    """An empty PR database whose sources are views on production's.

    dbt resolves ``source()`` to the target's own database (sources name none), so each source the
    production manifest declares gets a view of the same name here; deferred ``ref()``s need nothing,
    they name the ``warehouse`` database that the ``pr`` target attaches.
    """
    for stale in (path, path.with_name(path.name + ".wal")):
        stale.unlink(missing_ok=True)
    try:
        with connect(path) as con:
            con.execute(f"attach {quote_literal(warehouse)} as {PRODUCTION} (read_only)")
            present = set(
                con.execute(
                    "select schema_name, table_name from duckdb_tables() where database_name = ?"
                    " union all"
                    " select schema_name, view_name from duckdb_views()"
                    " where database_name = ? and not internal",
                    [PRODUCTION, PRODUCTION],
                ).fetchall()
            )
            for source in declared:
                if (source.schema, source.identifier) not in present:
                    continue
                schema, table = quote_ident(source.schema), quote_ident(source.identifier)
                con.execute(f"create schema if not exists {schema}")
                con.execute(
                    f"create or replace view {schema}.{table} as select * from {PRODUCTION}.{schema}.{table}"
                )
    except duckdb.Error as error:
        raise LifecycleError(
            f"Cannot prepare {path} with {warehouse} attached read-only ({error}); "
            "is a pipeline run writing to the warehouse right now?"
        ) from error


def _build(
    settings: Settings, folder: Path, state: Path, as_of: dt.datetime
) -> tuple[list[NodeResult], str | None]:
    """``dbt build`` of modified nodes and their children, unchanged parents read from production."""
    target_dir = folder / "target"
    args = [
        "build",
        "--select",
        "state:modified+",
        "--defer",
        # Read every unselected parent from production, even if an older PR build left one behind here.
        "--favor-state",
        "--state",
        str(state.resolve()),
        "--target",
        TARGET,
    ]
    # Same data directory, so the same PII salt store: a different salt would change every hashed column.
    pr_settings = dataclasses.replace(settings, dbt_target=TARGET)
    try:
        built = run_dbt(pr_settings, args, as_of=as_of, target_dir=target_dir, log_dir=folder / "dbt-logs")
    except LifecycleError as error:
        return [], str(error)
    return results(built.run_results), None


def _validate(
    settings: Settings,
    folder: Path,
    pr_database: Path,
    rebuilt: Sequence[Model],
    as_of: dt.datetime,
    progress: Callable[[str], None],
) -> ValidationReport:
    """GE suites of the rebuilt marts, run by ``validate`` on a data directory of their own.

    ``validate`` reads ``<data_dir>/warehouse.duckdb``: here a copy of the rebuilt tables, beside copies of
    production's other marts and seeds, which checks across tables read (cohorts add up to customers, spend
    only on the seed's paid channels). Only the rebuilt marts' suites are reported: the others are
    production's, already checked.
    """
    from lifecycle.quality.validate import validate

    quality_dir = folder / "quality"
    shutil.rmtree(quality_dir, ignore_errors=True)
    quality_dir.mkdir(parents=True)
    rebuilt_names = {(model.schema, model.name) for model in rebuilt}
    with connect(quality_dir / "warehouse.duckdb") as con:
        con.execute(f"attach {quote_literal(pr_database)} as pr (read_only)")
        con.execute(f"attach {quote_literal(settings.warehouse_path)} as production (read_only)")
        unchanged = [
            (schema, name)
            for schema, name in con.execute(
                "select schema_name, table_name from duckdb_tables()"
                " where database_name = 'production' and schema_name in ('marts', 'seeds')"
            ).fetchall()
            if (schema, name) not in rebuilt_names
        ]
        for source, tables in (("pr", sorted(rebuilt_names)), ("production", unchanged)):
            for schema_name, name in tables:
                schema, table = quote_ident(schema_name), quote_ident(name)
                con.execute(f"create schema if not exists {schema}")
                con.execute(f"create table {schema}.{table} as select * from {source}.{schema}.{table}")
    # Suites are code: a pull request's own expectations/ are the ones to run, if the project has them.
    project = settings.project_dir if (settings.project_dir / "expectations").is_dir() else PROJECT_DIR
    report = validate(
        Settings(data_dir=quality_dir, project_dir=project), as_of=as_of, layers=[MARTS], progress=progress
    )
    judged = {name for _, name in rebuilt_names}
    return dataclasses.replace(
        report, outcomes=tuple(o for o in report.outcomes if o.status != "skipped" and o.table in judged)
    )


def _production_as_of(settings: Settings, production_results: dict[str, object]) -> dt.datetime:
    """The as-of of the published run (its run id carries it), else the end of the production build's day."""
    publication = settings.last_publication_path
    if publication.exists():
        run_id = str(json.loads(publication.read_text()).get("run_id", ""))
        if match := re.fullmatch(r"run-(\d{8}T\d{6})-\w+", run_id):
            return dt.datetime.strptime(match.group(1), "%Y%m%dT%H%M%S")
    if day := production_as_of(production_results):
        return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(23, 59, 59))
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def _describe_production(settings: Settings, manifest: dict[str, object]) -> str:
    metadata = manifest.get("metadata") or {}
    generated = str(metadata.get("generated_at", "?"))[:19] if isinstance(metadata, dict) else "?"
    publication = settings.last_publication_path
    run_id = json.loads(publication.read_text()).get("run_id") if publication.exists() else None
    return (
        f"published run `{run_id}` (dbt build of {generated} UTC)" if run_id else f"dbt build of {generated}"
    )
