"""Connections to the warehouse file with the DuckDB settings of profiles.yml (README, "DuckDB settings")."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from lifecycle.config import Settings


def duckdb_config(settings: Settings) -> dict[str, str]:
    temp = os.environ.get("LIFECYCLE_DUCKDB_TEMP_DIR", str(settings.data_dir / "tmp"))
    return {
        "threads": os.environ.get("LIFECYCLE_DUCKDB_THREADS", "2"),
        "memory_limit": os.environ.get("LIFECYCLE_DUCKDB_MEMORY_LIMIT", "4GB"),
        "temp_directory": temp,
    }


@contextmanager
def connect(settings: Settings, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.warehouse_path), read_only=read_only, config=duckdb_config(settings))
    try:
        yield con
    finally:
        con.close()
