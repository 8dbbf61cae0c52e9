"""The dbt manifest the assets are laid out from, parsed when the code location loads.

dagster-dbt builds one asset per model, seed and snapshot, and one asset check per test, from
``manifest.json``. A fresh clone has none, so loading the definitions runs ``dbt parse`` (through the
project's one dbt runner) into ``state/orchestration/dbt-manifest`` under the data directory, and reuses
that manifest while no file of the dbt project is newer. Parsing reads no data. A file lock makes the
processes that load the code location at the same time (webserver, daemon, run workers) parse once.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from lifecycle.config import Settings
from lifecycle.dbt_runner import parse_project
from lifecycle.pii import private_dir

#: What dbt reads when it parses the project (dbt_project.yml names these folders).
PROJECT_INPUTS = ("dbt_project.yml", "profiles.yml", "models", "macros", "snapshots", "seeds", "tests/dbt")


def manifest_dir(settings: Settings) -> Path:
    return settings.state_dir / "orchestration" / "dbt-manifest"


def prepare_manifest(settings: Settings) -> Path:
    """The path of a manifest of the project as it is now, parsing it first if missing or stale."""
    target = manifest_dir(settings)
    manifest = target / "manifest.json"
    if _is_current(manifest, settings.project_dir):
        return manifest
    private_dir(settings.state_dir)
    target.mkdir(parents=True, exist_ok=True)
    fd = os.open(target / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another process may be parsing: wait for it, then reuse its result
        if not _is_current(manifest, settings.project_dir):
            parse_project(settings, target)
    finally:
        os.close(fd)
    return manifest


def _is_current(manifest: Path, project_dir: Path) -> bool:
    if not manifest.exists():
        return False
    built = manifest.stat().st_mtime
    return all(path.stat().st_mtime <= built for path in _project_files(project_dir))


def _project_files(project_dir: Path) -> list[Path]:
    files = []
    for name in PROJECT_INPUTS:
        path = project_dir / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files += [p for p in path.rglob("*") if p.is_file()]
    return files
