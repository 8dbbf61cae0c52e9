"""The pull-request check (``make ci-pr``) on a real production built by the pipeline at the smallest scale.

Production is a private copy of the shared tiny world (conftest.py), built from a copy of the project taken
once (so edits in the working tree while the tests run cannot show up as changes). Each scenario copies
that project again, changes a mart in the copy, and checks it against the same production data directory:
the PR build uses the copy, production is only read.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import duckdb
import pytest

from conftest import TINY_AS_OF, copy_project, copy_tiny_world
from lifecycle.ci import PullRequestCheck, check_pull_request
from lifecycle.ci.changes import changed_files
from lifecycle.ci.diff import SchemaChange, schema_changes
from lifecycle.ci.manifest import Model, breaking_changes
from lifecycle.ci.pr import report_path
from lifecycle.config import Settings

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def production(tiny_world: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A private copy of the shared tiny world: the check writes its own build (ci/) into the data
    directory it checks against."""
    return copy_tiny_world(tiny_world, tmp_path_factory.mktemp("production"))


def edit(project: Path, relative: str, old: str, new: str) -> None:
    path = project / relative
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not in {path} exactly once: update this test"
    path.write_text(text.replace(old, new))


def check(production: Settings, project: Path) -> PullRequestCheck:
    settings = Settings(data_dir=production.data_dir, project_dir=project)
    return check_pull_request(settings, pre_commit=False, progress=lambda _: None)


def built_models(production: Settings) -> set[str]:
    results = json.loads((production.data_dir / "ci" / "target" / "run_results.json").read_text())
    return {r["unique_id"] for r in results["results"] if r["unique_id"].startswith("model.")}


def descendant_models(production: Settings, unique_id: str) -> set[str]:
    children = json.loads((production.production_state_dir / "manifest.json").read_text())["child_map"]
    found, todo = {unique_id}, [unique_id]
    while todo:
        for child in children.get(todo.pop(), []):
            if child.startswith("model.") and child not in found:
                found.add(child)
                todo.append(child)
    return found


def production_scalar(production: Settings, sql: str) -> int:
    with duckdb.connect(str(production.warehouse_path), read_only=True) as con:
        row = con.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def test_unchanged_project_builds_nothing(production: Settings, tmp_path: Path):
    # Environment-dependent settings (database file, salt, as-of) must not make anything look modified.
    result = check(production, copy_project(tmp_path, production.project_dir))
    assert result.built == ()
    assert result.passed, result.problems
    assert "nothing modified" in report_path(production).read_text()


def test_comment_only_change_builds_the_mart_and_its_children_and_changes_no_row(
    production: Settings, tmp_path: Path
):
    project = copy_project(tmp_path, production.project_dir)
    edit(project, "models/marts/core/fct_orders.sql", "with\n", "-- A reviewer's note.\nwith\n")
    before = production.warehouse_path.stat().st_mtime_ns

    result = check(production, project)

    assert result.passed, result.problems
    assert built_models(production) == descendant_models(production, "model.lifecycle.fct_orders")
    assert {d.name for d in result.diffs} >= {"fct_orders", "fct_revenue_daily"}
    for diff in result.diffs:
        assert not diff.has_differences, diff
        assert diff.production_rows == diff.pr_rows > 0
    assert production.warehouse_path.stat().st_mtime_ns == before  # production was only read
    assert "0 with differences" in report_path(production).read_text()


def test_filter_change_reports_exactly_the_rows_it_changes(production: Settings, tmp_path: Path):
    project = copy_project(tmp_path, production.project_dir)
    # A plausible bug: failed payments counted as refunds.
    edit(
        project,
        "models/marts/finance/fct_revenue_daily.sql",
        "where payment_status = 'refunded'\n",
        "where payment_status in ('refunded', 'failed')\n",
    )
    # Independently: each day with a failed payment changes; one outside the mart's days would be added.
    failed_days = """
        select distinct cast(created_at as date) as day
        from staging.stg_app__payments
        where payment_status = 'failed'
    """
    mart_days = "select date_day from marts.fct_revenue_daily"
    changed_days = production_scalar(
        production, f"select count(*) from ({failed_days}) where day in ({mart_days})"
    )
    added_days = production_scalar(
        production, f"select count(*) from ({failed_days}) where day not in ({mart_days})"
    )
    assert changed_days > 0

    result = check(production, project)

    assert result.passed, result.problems  # a data diff alone does not fail the check
    assert built_models(production) == {"model.lifecycle.fct_revenue_daily"}
    (diff,) = result.diffs
    assert (diff.added, diff.removed, diff.changed) == (added_days, 0, changed_days)
    columns = {c.column: c for c in diff.columns}
    assert set(columns) == {"refund_amount", "net_revenue"}
    assert columns["refund_amount"].changed == columns["net_revenue"].changed == changed_days
    assert all(before == "0.00" for _, before, _ in columns["refund_amount"].examples)
    report = report_path(production).read_text()
    assert f"{added_days} added, 0 removed, {changed_days} changed" in report
    assert "| `refund_amount` |" in report


def test_removed_column_of_a_contracted_mart_is_breaking(production: Settings, tmp_path: Path):
    project = copy_project(tmp_path, production.project_dir)
    edit(project, "models/marts/core/fct_orders.sql", "    unit_count,\n", "")
    edit(
        project,
        "models/marts/core/_core__models.yml",
        "      - name: unit_count\n"
        "        description: Number of units over all lines.\n"
        "        data_type: bigint\n",
        "",
    )

    result = check(production, project)

    assert not result.passed
    assert result.dbt_failures == []  # dbt builds it: the contract and the model agree, production does not
    assert "`marts.fct_orders`: `unit_count` removed (was BIGINT)" in result.breaking
    diff = next(d for d in result.diffs if d.name == "fct_orders")
    assert diff.schema_changes == (SchemaChange("unit_count", "removed", "BIGINT", None),)
    assert (diff.added, diff.removed, diff.changed) == (0, 0, 0)
    report = report_path(production).read_text()
    assert "❌ failed" in report and "### Breaking changes" in report


def test_schema_changes_name_added_removed_and_retyped_columns():
    before = {"id": "BIGINT", "amount": "DECIMAL(18,2)", "gone": "VARCHAR"}
    after = {"id": "BIGINT", "amount": "DOUBLE", "new": "DATE"}
    assert schema_changes(before, after) == (
        SchemaChange("gone", "removed", "VARCHAR", None),
        SchemaChange("amount", "retyped", "DECIMAL(18,2)", "DOUBLE"),
        SchemaChange("new", "added", None, "DATE"),
    )


def test_breaking_changes_only_concern_contracted_models():
    def model(name: str, *, contracted: bool, not_null: frozenset[str] = frozenset()) -> Model:
        return Model(f"model.p.{name}", name, "warehouse", "marts", ("id",), contracted, ("id",), not_null)

    production = {
        "model.p.a": model("a", contracted=True, not_null=frozenset({"id"})),
        "model.p.b": model("b", contracted=True),
        "model.p.c": model("c", contracted=False),
    }
    pr = {"model.p.a": model("a", contracted=False), "model.p.c": model("c", contracted=False)}
    assert breaking_changes(production, pr, []) == [
        "`marts.a`: contract no longer enforced",
        "`marts.a`: not_null constraint on `id` dropped",
        "`marts.b` (contracted) was removed or renamed",
    ]


def test_changed_files_are_the_working_tree_against_the_merge_base(tmp_path: Path):
    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
            cwd=tmp_path,
            check=True,
            capture_output=True,
        )

    git("init", "--initial-branch=main")
    (tmp_path / "a.sql").write_text("select 1\n")
    git("add", ".")
    git("commit", "-m", "base")
    assert changed_files(tmp_path) == (changed_files(tmp_path)[0], [])
    (tmp_path / "a.sql").write_text("select 2\n")  # on main: uncommitted changes count
    assert changed_files(tmp_path)[1] == ["a.sql"]
    git("checkout", "-b", "feature")
    git("commit", "-am", "change a")
    (tmp_path / "b.sql").write_text("select 3\n")  # untracked counts too
    compared, files = changed_files(tmp_path)
    assert files == ["a.sql", "b.sql"]
    assert compared.startswith("main (")


def test_production_as_of_is_read_from_the_artifact_env_or_vars(production: Settings) -> None:
    from lifecycle.ci.manifest import production_as_of

    # The pipeline hands as-of to dbt through the environment; dbt records it in the artifacts.
    results = json.loads((production.production_state_dir / "run_results.json").read_text())
    assert production_as_of(results) == TINY_AS_OF.date().isoformat()
    assert production_as_of({"metadata": {"env": {"LIFECYCLE_AS_OF": "2026-03-04"}}}) == "2026-03-04"
    assert production_as_of({"args": {"vars": {"as_of": "2026-03-01"}}}) == "2026-03-01"
    assert production_as_of({"metadata": {"env": {"LIFECYCLE_AS_OF": ""}}, "args": {}}) is None
