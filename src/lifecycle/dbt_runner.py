"""The one way the package runs dbt: a child process with this data directory's environment, and its results.

A child process, not ``dbtRunner`` in ours: dbt-duckdb keeps its DuckDB handle open for the life of the
process, and the warehouse could then not be opened read-only (by GE, by publish) beside it. The child gets
its own environment; ours is never modified. dbt's progress lines stream to the terminal.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lifecycle.config import Settings
from lifecycle.errors import LifecycleError
from lifecycle.pii import ensure_salt
from lifecycle.quality.window import audit_since

#: run_results.json statuses that mean a node did not do its job.
FAILED_STATUSES = frozenset({"error", "fail", "runtime error"})


@dataclass(frozen=True)
class NodeFailure:
    name: str
    status: str
    message: str
    #: Where a failing test stored its failing rows (``store_failures``), if it did.
    relation: str | None = None
    unique_id: str = ""


@dataclass(frozen=True)
class DbtResult:
    """What one dbt command did: its exit code and its ``run_results.json``."""

    args: tuple[str, ...]
    returncode: int
    target_dir: Path
    run_results: dict[str, Any] = field(repr=False)

    @property
    def invocation_id(self) -> str:
        return str(self.run_results.get("metadata", {}).get("invocation_id", ""))

    @property
    def results(self) -> list[dict[str, Any]]:
        return list(self.run_results.get("results", []))

    @property
    def failures(self) -> list[NodeFailure]:
        failures = []
        for node in self.results:
            if node.get("status") in FAILED_STATUSES:
                # unique_id: <type>.<project>.<name>[.<hash>]; tests carry a hash suffix, models do not.
                name = node.get("unique_id", "?").split(".")[2]
                # A failing test's relation holds its failing rows; an erroring model's is the model itself.
                stored = node.get("relation_name") if node["status"] == "fail" else None
                message = str(node.get("message") or "")
                failures.append(NodeFailure(name, node["status"], message, stored, node.get("unique_id", "")))
        return failures


def dbt_environment(
    settings: Settings,
    *,
    as_of: dt.datetime | None = None,
    target_dir: Path | None = None,
    log_dir: Path | None = None,
) -> dict[str, str]:
    """The environment of a dbt child process for this data directory (a copy: ours is untouched).

    The run's as-of date travels as an environment variable, not ``--vars``: dbt re-parses the whole
    project whenever ``--vars`` change, and a file that read an environment variable while parsing when
    that variable changes; ``macros/as_of_date.sql`` and ``audit_since.sql`` read theirs only when dbt
    executes, so a new as-of re-parses nothing. The ``DBT_ENV_CUSTOM_ENV_`` copy is recorded by dbt in every
    artifact's ``metadata.env``, so the production as-of can be read back from ``run_results.json``.
    """
    day = as_of.date().isoformat() if as_of is not None else ""
    since = audit_since(settings, as_of).isoformat() if as_of is not None else ""
    return {
        **os.environ,
        "LIFECYCLE_AS_OF": day,
        # Where the reconciliation tests start judging (macros/audit_since.sql, quality/window.py).
        "LIFECYCLE_AUDIT_SINCE": since,
        "DBT_ENV_CUSTOM_ENV_LIFECYCLE_AS_OF": day,
        "LIFECYCLE_DATA_DIR": str(settings.data_dir),
        "LIFECYCLE_DBT_TARGET": settings.dbt_target,
        "DBT_TARGET_PATH": str(target_dir or settings.dbt_target_dir),
        "DBT_LOG_PATH": str(log_dir or settings.dbt_log_dir),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
    }


def run_dbt(
    settings: Settings,
    args: Sequence[str],
    *,
    as_of: dt.datetime | None = None,
    target_dir: Path | None = None,
    log_dir: Path | None = None,
) -> DbtResult:
    """Run ``dbt <args>`` on this project and data directory; raise if dbt could not run at all.

    Failing nodes are not an exception here (``DbtResult.failures``): each caller decides what they mean.
    """
    ensure_salt(settings)
    env = dbt_environment(settings, as_of=as_of, target_dir=target_dir, log_dir=log_dir)
    (settings.data_dir / "tmp").mkdir(parents=True, exist_ok=True)
    results_file = Path(env["DBT_TARGET_PATH"]) / "run_results.json"
    results_file.unlink(missing_ok=True)
    completed = subprocess.run(_command(settings, args), env=env, check=False)
    if not results_file.exists():
        raise LifecycleError(
            f"dbt {args[0]} could not run (exit {completed.returncode}); see the output above and "
            f"{Path(env['DBT_LOG_PATH']) / 'dbt.log'}"
        )
    return DbtResult(
        tuple(args), completed.returncode, results_file.parent, json.loads(results_file.read_text())
    )


def parse_project(settings: Settings, target_dir: Path) -> Path:
    """``dbt parse`` into ``target_dir``; the path of the ``manifest.json`` it wrote.

    Parsing runs no SQL, so it needs no PII salt and writes no ``run_results.json``: the manifest only
    describes the project (models, tests, lineage), which is what an orchestrator lays its assets out from.
    """
    env = dbt_environment(settings, target_dir=target_dir, log_dir=target_dir / "logs")
    completed = subprocess.run(_command(settings, ["parse", "--quiet"]), env=env, check=False)
    manifest = target_dir / "manifest.json"
    if completed.returncode != 0 or not manifest.exists():
        raise LifecycleError(
            f"dbt parse failed (exit {completed.returncode}); see the output above and "
            f"{target_dir / 'logs' / 'dbt.log'}"
        )
    return manifest


def _command(settings: Settings, args: Sequence[str]) -> list[str]:
    """``dbt <args>`` on this project, with the venv's dbt (not whichever is first on PATH)."""
    return [
        str(Path(sys.executable).with_name("dbt")),
        *args,
        "--project-dir",
        str(settings.project_dir),
        "--profiles-dir",
        str(settings.project_dir),
    ]
