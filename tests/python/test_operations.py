"""Operating the platform from the terminal: a user's own world, concurrent commands, one-line errors."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from lifecycle.generate.state import load_state

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LIFECYCLE_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "lifecycle.cli", *args], env=env, capture_output=True, text=True
    )


def test_a_users_own_world_is_continued_and_concurrent_writers_corrupt_nothing(tmp_path: Path):
    made = cli(
        tmp_path, "generate", "--seed", "21", "--scale", "0.01", "--start", "2026-03-01", "--days", "3"
    )
    assert made.returncode == 0, made.stderr

    # Two ingests started together: one lands the data, the other lands nothing new or is turned away.
    env = {**os.environ, "LIFECYCLE_DATA_DIR": str(tmp_path)}
    command = [sys.executable, "-m", "lifecycle.cli", "ingest", "--as-of", "2026-03-03T23:00"]
    both = [subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = sorted((p.wait(), p.stderr.read() if p.stderr else "") for p in both)
    assert [code for code, _ in outcomes] in ([0, 0], [0, 75]), outcomes
    if outcomes[1][0] == 75:
        # The holder names itself just after taking the lock; a contender that looks in between is told
        # "another process" instead.
        assert (
            "is in use by `lifecycle ingest`" in outcomes[1][1]
            or "is in use by another process" in outcomes[1][1]
        )
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        for table in ("app_orders", "app_customers", "app_order_items"):
            rows, distinct = con.execute(
                f"select count(*), count(distinct _change_id) from raw.{table}"
            ).fetchone()
            assert rows == distinct > 0, table
        files, distinct = con.execute("select count(*), count(distinct path) from raw._manifest").fetchone()
        assert files == distinct > 0

    # `lifecycle run` continues the world it finds, with that world's own seed and scale.
    ran = cli(tmp_path, "run", "--as-of", "2026-03-04T02:00")
    assert ran.returncode == 0, ran.stderr[-3000:]
    state = load_state(tmp_path / "sources")
    assert state is not None
    # Generated up to the as-of instant (the world's clock), with the world's own seed and scale.
    assert (state.seed, state.scale, state.clock) == (21, 0.01, dt.datetime(2026, 3, 4, 2, 0))

    # Asking for other settings than the world's is a one-line error, not an unexpected one.
    other = cli(tmp_path, "run", "--seed", "5", "--as-of", "2026-03-05T02:00")
    assert other.returncode == 1
    assert other.stderr.count("\n") == 1
    assert "--seed 5 (the world has 21)" in other.stderr
    assert "unexpected" not in other.stderr
