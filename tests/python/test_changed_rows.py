"""The changed_rows incremental strategy (macros/changed_rows.sql) on a one-model dbt project: each
recomputed key ends with exactly the build's rows, as with delete+insert, but a row that comes out as it
was is not written again."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from lifecycle.config import PROJECT_DIR

pytestmark = pytest.mark.heavy

MODEL = """
{{ config(materialized='incremental', incremental_strategy='changed_rows', unique_key='k'ROW_KEY) }}
select * from main.source_rows
{% if is_incremental() %}
    where k in (select k from main.recompute)
{% endif %}
"""


def project(root: Path, row_key: str | None = "r") -> Path:
    (root / "models").mkdir(parents=True)
    (root / "macros").mkdir()
    shutil.copyfile(PROJECT_DIR / "macros" / "changed_rows.sql", root / "macros" / "changed_rows.sql")
    (root / "dbt_project.yml").write_text(
        "name: changed_rows_check\nversion: '1.0'\nprofile: check\nconfig-version: 2\n"
    )
    (root / "profiles.yml").write_text(
        "check:\n  target: dev\n  outputs:\n    dev:\n"
        f"      type: duckdb\n      path: {root / 'check.duckdb'}\n      threads: 1\n"
    )
    key = f", row_key='{row_key}'" if row_key else ""
    (root / "models" / "rows.sql").write_text(MODEL.replace("ROW_KEY", key))
    return root


def dbt_run(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(Path(sys.executable).with_name("dbt")),
            "run",
            "--project-dir",
            str(root),
            "--profiles-dir",
            str(root),
        ],
        capture_output=True,
        text=True,
        check=False,
        env={
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DO_NOT_TRACK": "1",
            "PATH": str(Path(sys.executable).parent),
        },
    )


def load(root: Path, rows: list[tuple], recompute: list[str]) -> None:
    with duckdb.connect(str(root / "check.duckdb")) as con:
        con.execute(
            "create or replace table main.source_rows (k varchar, r varchar, v integer, note varchar)"
        )
        con.executemany("insert into main.source_rows values (?, ?, ?, ?)", rows)
        con.execute("create or replace table main.recompute (k varchar)")
        for key in recompute:
            con.execute("insert into main.recompute values (?)", [key])


def held(root: Path) -> dict[str, tuple]:
    """The model's rows by row key, each with the row id it is stored at."""
    with duckdb.connect(str(root / "check.duckdb"), read_only=True) as con:
        rows = con.execute("select rowid, k, r, v, note from main.rows").fetchall()
    return {row[2]: row for row in rows}


def test_recomputed_keys_hold_the_builds_rows_and_unchanged_rows_stay_where_they_are(tmp_path: Path):
    root = project(tmp_path / "project")
    load(root, [("A", "a1", 1, None), ("A", "a2", 2, "x"), ("B", "b1", 3, None), ("C", "c1", 5, None)], [])
    assert dbt_run(root).returncode == 0
    before = held(root)
    assert set(before) == {"a1", "a2", "b1", "c1"}

    # A keeps a1 as it was (a null column included), loses a2 and gains a3; C's row changes. B changes
    # in the source but is not recomputed, so the model keeps what it had.
    load(
        root,
        [("A", "a1", 1, None), ("A", "a3", 4, "new"), ("B", "b1", 30, None), ("C", "c1", 50, None)],
        ["A", "C"],
    )
    result = dbt_run(root)
    assert result.returncode == 0, result.stdout[-2000:]
    after = held(root)
    assert {r: row[1:] for r, row in after.items()} == {
        "a1": ("A", "a1", 1, None),
        "a3": ("A", "a3", 4, "new"),
        "b1": ("B", "b1", 3, None),
        "c1": ("C", "c1", 50, None),
    }
    # Written rows go to the table's end; rows not written keep their order (row ids are renumbered when
    # a checkpoint compacts deleted rows, so the order is what tells). With delete+insert, a1 would
    # follow b1.
    stored = [r for r, _ in sorted(after.items(), key=lambda item: item[1][0])]
    assert stored[:2] == ["a1", "b1"]
    assert set(stored[2:]) == {"a3", "c1"}
    assert [r for r, _ in sorted(before.items(), key=lambda item: item[1][0])] == ["a1", "a2", "b1", "c1"]


def test_a_model_without_a_row_key_is_refused_naming_its_file(tmp_path: Path):
    root = project(tmp_path / "project", row_key=None)
    load(root, [("A", "a1", 1, None)], [])
    assert dbt_run(root).returncode == 0  # the first build creates the table: no strategy yet
    result = dbt_run(root)
    assert result.returncode != 0
    assert "changed_rows needs one unique_key column" in result.stdout
    assert "models/rows.sql" in result.stdout
