"""A local PostgreSQL cluster for the shop database: ``initdb`` and ``pg_ctl`` under the data directory.

It listens on 127.0.0.1 only, on a port of its own, with its socket in its own folder and ``wal_level =
logical`` so the ingestion can read a replication slot. PostgreSQL refuses to run as root: when the
pipeline runs as root the cluster belongs to the ``postgres`` OS user (created by Debian's packages).
Authentication is ``trust`` for that one address: a developer's scratch cluster, never a shared one.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from lifecycle.errors import LifecycleError

#: Where Debian's packages put the server binaries; ``LIFECYCLE_PG_BIN`` or ``pg_config`` otherwise.
DEBIAN_BIN = Path("/usr/lib/postgresql/15/bin")
OS_USER = "postgres"
SUPERUSER = "postgres"
DATABASE = "lifecycle"
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "wal_level": "logical",
    "max_replication_slots": "10",
    "max_wal_senders": "10",
    # a scratch cluster: small, and quiet in the log
    "shared_buffers": "'32MB'",
    "max_connections": "30",
    "log_min_messages": "warning",
}
#: Servers since 15.19 decode a slot only through the output plugins this setting lists; ingestion reads
#: its slot with wal2json (ingest/postgres.py). Older servers know no such setting and allow any plugin.
PLUGIN_SETTING = "output_plugin_libraries"
PLUGINS = "'pgoutput, test_decoding, wal2json'"


@dataclass(frozen=True)
class Cluster:
    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "pgdata"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"


def server_bin() -> Path | None:
    """The folder of ``initdb``/``pg_ctl``, or None where PostgreSQL is not installed."""
    candidates = [os.environ.get("LIFECYCLE_PG_BIN"), str(DEBIAN_BIN)]
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(out.stdout.strip())
    for candidate in candidates:
        if candidate and (Path(candidate) / "pg_ctl").exists() and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    return None


def _bin(name: str) -> str:
    found = server_bin()
    if found is None:
        raise LifecycleError(
            "PostgreSQL server binaries not found (looked in $LIFECYCLE_PG_BIN, "
            f"{DEBIAN_BIN}, pg_config --bindir): install Debian's postgresql-15"
        )
    return str(found / name)


def _as_owner(command: list[str]) -> list[str]:
    """Run as the ``postgres`` OS user when we are root (the server refuses root)."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", OS_USER, "--", *command]


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(_as_owner(command), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LifecycleError(f"postgres: {what} failed ({done.returncode}): {done.stderr.strip()[-800:]}")


def _prepare_root(cluster: Cluster) -> None:
    cluster.root.mkdir(parents=True, exist_ok=True)
    cluster.socket_dir.mkdir(exist_ok=True)
    if os.geteuid() != 0:
        return
    try:
        owner = pwd.getpwnam(OS_USER)
    except KeyError as exc:
        raise LifecycleError(
            f"postgres: running as root needs the OS user {OS_USER!r} to own the cluster (Debian's "
            "postgresql package creates it; or run as a non-root user)"
        ) from exc
    for path in (cluster.root, cluster.socket_dir):
        os.chown(path, owner.pw_uid, owner.pw_gid)
    probe = subprocess.run(_as_owner(["test", "-w", str(cluster.root)]), check=False)
    if probe.returncode != 0:
        raise LifecycleError(
            f"postgres: user {OS_USER!r} cannot reach {cluster.root} (a parent folder is not searchable "
            "by others); set LIFECYCLE_POSTGRES_DIR to a folder it can reach"
        )


def is_running(cluster: Cluster) -> bool:
    if not (cluster.data / "PG_VERSION").exists():
        return False
    done = subprocess.run(
        _as_owner([_bin("pg_ctl"), "status", "-D", str(cluster.data)]), capture_output=True, check=False
    )
    return done.returncode == 0


def start(cluster: Cluster) -> str:
    """Create the cluster if needed, start it, make sure the shop database exists; return its URL."""
    _prepare_root(cluster)
    if not (cluster.data / "PG_VERSION").exists():
        _run(
            [
                _bin("initdb"), "-D", str(cluster.data), "-U", SUPERUSER, "--auth=trust",
                "--encoding=UTF8", "--locale=C", "--no-instructions",
            ],
            f"initdb in {cluster.data}",
        )  # fmt: skip
        with (cluster.data / "postgresql.auto.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in SETTINGS.items())
    if _allow_wal2json(cluster) and is_running(cluster):
        _run([_bin("pg_ctl"), "reload", "-D", str(cluster.data)], "reloading the cluster's settings")
    if not is_running(cluster):
        options = f"-p {cluster.port} -k {cluster.socket_dir}"
        _run(
            [_bin("pg_ctl"), "start", "-w", "-t", "60", "-D", str(cluster.data), "-l", str(cluster.log),
             "-o", options],
            f"starting the cluster in {cluster.data} (log: {cluster.log})",
        )  # fmt: skip
    create_database(cluster, DATABASE)
    return cluster.url()


def _allow_wal2json(cluster: Cluster) -> bool:
    """List wal2json among the allowed output plugins where the server restricts them (also in a
    cluster made before it did); whether the settings changed."""
    conf = cluster.data / "postgresql.auto.conf"
    if PLUGIN_SETTING in conf.read_text():
        return False
    described = subprocess.run(
        _as_owner([_bin("postgres"), "--describe-config"]), capture_output=True, text=True, check=False
    )
    if not any(line.startswith(PLUGIN_SETTING + "\t") for line in described.stdout.splitlines()):
        return False
    with conf.open("a") as lines:
        lines.write(f"{PLUGIN_SETTING} = {PLUGINS}\n")
    return True


def create_database(cluster: Cluster, name: str) -> str:
    """Create database ``name`` if it does not exist; return its URL."""
    import psycopg

    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'create database "{name}"')
    return cluster.url(name)


def stop(cluster: Cluster) -> None:
    if is_running(cluster):
        _run([_bin("pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(cluster.data)], "stopping the cluster")
