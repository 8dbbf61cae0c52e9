"""File sources: which files are new (manifest of path, size, checksum) and which were complete by as-of."""

from __future__ import annotations

import datetime as dt
import glob
import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import duckdb

_ARRIVAL = re.compile(r"date=(\d{4}-\d{2}-\d{2})/hour=(\d{2})")
_DROP_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})")


@dataclass(frozen=True)
class SourceFile:
    path: Path
    relative: str
    size: int
    sha256: str


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def arrived_at(relative: str) -> dt.datetime | None:
    """When a file was complete and could be read; None if its path says neither.

    An events file holds what arrived during its hour folder (``date=D/hour=H``), so it is complete at the
    end of that hour; an ad drop reports its own date (``ad_spend_D.csv`` has a row for D), so it is
    complete at the end of that day. Reading either earlier would land records from after the as-of.
    """
    if match := _ARRIVAL.search(relative):
        hour = dt.datetime.fromisoformat(match.group(1)) + dt.timedelta(hours=int(match.group(2)))
        return hour + dt.timedelta(hours=1)
    if match := _DROP_DATE.search(Path(relative).name):
        return dt.datetime.fromisoformat(match.group(1)) + dt.timedelta(days=1)
    return None


def new_files(
    con: duckdb.DuckDBPyConnection, root: Path, pattern: str, source: str, as_of: dt.datetime | None
) -> list[SourceFile]:
    """Files under ``root`` not loaded yet (by path, size and checksum) that were complete by ``as_of``.

    A loaded file whose size changed is a redelivery under the same name: it is loaded again (raw is
    append-only, so both versions stay, each with its own ``_batch_id``).
    """
    loaded = {
        path: (size, sha)
        for path, size, sha in con.execute(
            "select path, size, sha256 from raw._manifest where source = ?", [source]
        ).fetchall()
    }
    found = []
    # Every file of the history is listed and stat-ed on every run (a redelivery keeps its name), so the
    # listing works on strings: glob.glob with root_dir, one os.stat each, and the arrival time parsed
    # only for a file not loaded yet. pathlib's glob and a Path per file took twice as long (0.17 against
    # 0.07 s for 9,217 events files after 113 days).
    for name in sorted(glob.glob(pattern, root_dir=root, recursive=True, include_hidden=True)):
        path = os.path.join(root, name)
        status = os.stat(path)
        if not stat.S_ISREG(status.st_mode):
            continue
        relative = f"{root.name}/{name.replace(os.sep, '/')}"
        size = status.st_size
        # Same path and size: already loaded. Hashing every historical file on each run would make the
        # daily cost grow with history; the checksum is recorded for audits and redelivery checks.
        if relative in loaded and loaded[relative][0] == size:
            continue
        arrival = arrived_at(relative)
        if as_of is not None and arrival is not None and arrival > as_of:
            continue
        found.append(SourceFile(Path(path), relative, size, sha256_of(Path(path))))
    return found


def record_loaded(
    con: duckdb.DuckDBPyConnection, source: str, files: list[SourceFile], batch_id: str
) -> None:
    """Enter a batch's files into the manifest: one statement for the batch, not one per file."""
    if not files:
        return
    con.execute(
        """
        insert or replace into raw._manifest
        select ?, unnest(?::varchar[]), unnest(?::bigint[]), unnest(?::varchar[]), ?, now()
        """,
        [
            source,
            [f.relative for f in files],
            [f.size for f in files],
            [f.sha256 for f in files],
            batch_id,
        ],
    )
