"""Transformation: dbt (through its Python API, ``dbtRunner``) over the warehouse.

dbt's own output streams to the terminal as progress; a failed build raises with the failing nodes named.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lifecycle.config import Settings
from lifecycle.errors import GateFailed, LifecycleError


@dataclass(frozen=True)
class NodeFailure:
    name: str
    status: str
    message: str
    #: Where a failing test stored its failing rows (``store_failures``), if it did.
    relation: str | None = None


def pii_salt(settings: Settings) -> str:
    """LIFECYCLE_PII_SALT if set; else a random salt created once per data directory (never committed)."""
    if salt := os.environ.get("LIFECYCLE_PII_SALT"):
        return salt
    path = settings.state_dir / "pii_salt"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(16))
        path.chmod(0o600)
    return path.read_text().strip()


@contextmanager
def dbt_environment(
    settings: Settings, *, salt: str | None = None, as_of: dt.datetime | None = None
) -> Iterator[None]:
    """Point dbt at this data directory and project for the duration of a call.

    The run's as-of date travels as an environment variable, not ``--vars``: dbt re-parses the whole
    project whenever ``--vars`` change, but only the files that read an environment variable when it
    changes (``macros/as_of_date.sql``). The ``DBT_ENV_CUSTOM_ENV_`` copy is recorded by dbt in every
    artifact's ``metadata.env``, so the production as-of can be read back from ``run_results.json``.
    """
    day = as_of.date().isoformat() if as_of is not None else ""
    values = {
        "LIFECYCLE_AS_OF": day,
        "DBT_ENV_CUSTOM_ENV_LIFECYCLE_AS_OF": day,
        "LIFECYCLE_DATA_DIR": str(settings.data_dir),
        "LIFECYCLE_DBT_TARGET": settings.dbt_target,
        "LIFECYCLE_PII_SALT": salt if salt is not None else pii_salt(settings),
        "DBT_TARGET_PATH": str(settings.dbt_target_dir),
        "DBT_LOG_PATH": str(settings.state_dir / "dbt-logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
    }
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    (settings.data_dir / "tmp").mkdir(parents=True, exist_ok=True)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def run_dbt(
    settings: Settings,
    args: Sequence[str],
    *,
    salt: str | None = None,
    as_of: dt.datetime | None = None,
) -> list[NodeFailure]:
    """Run dbt in a child process with the project's paths; return the nodes that errored or failed.

    A child process, not ``dbtRunner`` in ours: dbt-duckdb keeps its DuckDB handle open for the life of
    the process, and a DuckDB file cannot then be opened read-only (by GE, by publish) beside it.
    dbt's own progress lines stream straight to the terminal.
    """
    dbt = Path(sys.executable).with_name("dbt")
    full = [
        str(dbt),
        *args,
        "--project-dir",
        str(settings.project_dir),
        "--profiles-dir",
        str(settings.project_dir),
    ]
    with dbt_environment(settings, salt=salt, as_of=as_of):
        results_file = Path(os.environ["DBT_TARGET_PATH"]) / "run_results.json"
        results_file.unlink(missing_ok=True)
        completed = subprocess.run(full, check=False)
    if not results_file.exists():
        raise LifecycleError(
            f"dbt {args[0]} could not run (exit {completed.returncode}); see the output above and "
            f"{settings.state_dir / 'dbt-logs' / 'dbt.log'}"
        )
    failures = []
    for node in json.loads(results_file.read_text()).get("results", []):
        if node.get("status") in {"error", "fail", "runtime error"}:
            # unique_id: <type>.<project>.<name>[.<hash>]; tests carry a hash suffix, models do not.
            name = node.get("unique_id", "?").split(".")[2]
            # A failing test's relation holds its failing rows; an erroring model's is the model itself.
            stored = node.get("relation_name") if node["status"] == "fail" else None
            failures.append(NodeFailure(name, node["status"], str(node.get("message") or ""), stored))
    return failures


def transform(
    settings: Settings,
    *,
    as_of: dt.datetime | None = None,
    select: Sequence[str] = (),
    full_refresh: bool = False,
    unit_tests: bool = False,
) -> None:
    """``dbt build``: seeds, snapshots, models and their tests in DAG order. Error-severity failures raise.

    dbt unit tests check the SQL against fixed inputs, so they belong to CI and pull-request checks
    (``make test``, ``make ci-pr``), not to every production run: ``unit_tests=True`` includes them.
    """
    args = ["build"]
    if not unit_tests:
        args += ["--exclude-resource-type", "unit_test"]
    if select:
        args += ["--select", *select]
    if full_refresh:
        args.append("--full-refresh")
    failures = run_dbt(settings, args, as_of=as_of)
    if failures:
        lines = "\n".join(
            f"  - {f.name} ({f.status}): {f.message}{_sample(settings, f.relation)}" for f in failures[:10]
        )
        raise GateFailed(
            f"dbt build: {len(failures)} failing node(s); nothing was published:\n{lines}\n"
            f"  all failing rows: schema `audit` in {settings.warehouse_path}; "
            f"log: {settings.state_dir / 'dbt-logs' / 'dbt.log'}"
        )


def _sample(settings: Settings, relation: str | None, rows: int = 3) -> str:
    """A few of a failing test's stored rows, to show in the error (dbt has exited: the file is free)."""
    if not relation:
        return ""
    import duckdb

    try:
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
            cursor = con.execute(f"select * from {relation} limit {rows}")
            columns = [c[0] for c in cursor.description]
            sample = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    except duckdb.Error:
        return ""
    return f"; e.g. {sample}"
