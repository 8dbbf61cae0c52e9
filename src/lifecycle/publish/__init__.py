"""Serving: publish an audited build, all or nothing.

A publication is a folder under ``publications/`` holding everything analysts and downstream tools see —
``analytics.duckdb`` (the marts), their Parquet copies, the CRM export, ``publication.json`` and the dbt
artifacts of the build (the production state of pull-request checks). It is prepared and checked in a
hidden folder, renamed into place, and made current by replacing one symbolic link
(``publications/current``) with a single ``rename``. The stable paths (``analytics.duckdb``, ``exports/``,
``state/production``, ``state/last_publication.json``) are links through ``current``, so they always show
one whole publication: a failure or ``kill -9`` at any point leaves the previous one in place, and a rerun
completes the new one.

Only a build whose every gate passed, unchanged since, is published (``quality.verdict``); any caller gets
that rule. An analyst session keeps reading the file it opened; it sees the new data after reconnecting.

A publication starts from the current one, so a day's publication costs what changed, not the history:
its ``analytics.duckdb`` is a copy of the current file (a new file; the current one is never written), in
which only the marts whose digest changed are dropped and copied again from the warehouse, and the Parquet
files of the unchanged marts are hard links to the current ones. The first publication, or one whose
predecessor cannot be trusted (missing, corrupt, rewritten since, or without table digests), copies every
mart.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from lifecycle.config import Settings
from lifecycle.errors import GateFailed, LifecycleError
from lifecycle.observability import history, lineage
from lifecycle.privacy.classification import contact_data_violations, contact_rules_digest
from lifecycle.publish.reverse_etl import CRM_INPUTS, CrmExport, export_crm_segments
from lifecycle.quality.restatements import accepted_days
from lifecycle.quality.verdict import (
    PUBLISHED_SCHEMA,
    TableDigest,
    Verdict,
    marts_digests,
    require_publishable,
)
from lifecycle.storage import connect, one_row, quote_ident, quote_literal

#: Publications kept besides the current one (an analyst session may still read the previous file); an
#: erasure removes them at once (``remove_superseded``).
KEEP_PREVIOUS = 1
#: A previous database file with more free blocks than this share of its blocks is not started from (the
#: publication copies every mart into a fresh file instead), which bounds its size and how long the values
#: of dropped tables stay in its free blocks.
MAX_FREE_SHARE = 0.5
#: The dbt artifacts kept with a publication: pull-request checks compare against them (``--state``).
DBT_ARTIFACTS = ("manifest.json", "run_results.json")


@dataclass(frozen=True)
class Publication:
    publication_id: str
    run_id: str
    path: Path
    tables: dict[str, int]
    published_at: dt.datetime
    crm: CrmExport
    #: The marts taken over unchanged from the previous publication (the others were copied anew).
    reused: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Base:
    """The current publication, which a new one starts from."""

    publication_id: str
    folder: Path
    #: Each published table's digest (``quality.verdict.marts_digests``) when it was published.
    digests: dict[str, str]
    #: The contact-data rules its tables and files were checked under.
    contact_rules: str | None
    run_id: str


class _StartOver(Exception):
    """The previous publication's database cannot be started from: copy every mart instead."""


@dataclass
class _Marts:
    """What ``_copy_marts`` made: rows and digest per table, which were copied anew or taken over, and the
    publication it started from (None: every mart copied, for the reason ``why``)."""

    digests: dict[str, TableDigest]
    verdicts: dict[str, Verdict]
    base: _Base | None
    why: str
    copied: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)

    def start_over(self, why: str) -> None:
        self.base, self.why = None, why


def publish(settings: Settings, *, progress: Callable[[str], None] = lambda _: None) -> Publication:
    """Publish the warehouse's marts if every gate passed on exactly them; GateFailed otherwise.

    The publication joins the run history and its lineage (marts → analyst database, Parquet exports,
    and the reverse-ETL export) is sent as OpenLineage events.
    """
    with lineage.job(settings, "publish", job_type="JOB") as job:
        publication = _publish(settings, progress)
        record = read_publication(settings) or {}
        job.inputs += [lineage.warehouse_table(settings, PUBLISHED_SCHEMA, t) for t in publication.tables]
        # Each table's copy is a job of its own within the publication, so lineage says which mart each
        # published table and file came from (one job's inputs and outputs would read as all to all).
        for table in publication.tables:
            with lineage.job(settings, f"publish.{table}", parent=job) as copy:
                copy.inputs.append(lineage.warehouse_table(settings, PUBLISHED_SCHEMA, table))
                copy.outputs += [
                    lineage.analytics_table(settings, table),
                    lineage.export_file(settings, f"marts/{table}.parquet"),
                ]
        with lineage.job(settings, "publish.reverse_etl", parent=job) as crm:
            crm.inputs += [lineage.analytics_table(settings, t) for t in CRM_INPUTS]
            crm.outputs += [
                lineage.export_file(settings, p.name) for p in (publication.crm.csv, publication.crm.parquet)
            ]
    history.record_publication(
        settings,
        publication_id=publication.publication_id,
        run_id=publication.run_id,
        published_at=publication.published_at,
        as_of=record.get("as_of"),
        tables=publication.tables,
    )
    return publication


def _publish(settings: Settings, progress: Callable[[str], None]) -> Publication:
    if not settings.warehouse_path.exists():
        raise LifecycleError(f"no warehouse at {settings.warehouse_path}: run `lifecycle transform` first")
    published_at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    # Sortable to the microsecond: pruning keeps the publications older than the current one by name.
    publication_id = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:6]}"
    root = settings.publications_dir
    root.mkdir(parents=True, exist_ok=True)
    _remove_unfinished(root)
    folder = root / f".new-{publication_id}"
    base, why = _base_publication(root)
    rules = contact_rules_digest()
    try:
        (folder / "exports" / "marts").mkdir(parents=True)
        marts = _copy_marts(settings, folder, published_at, base, why)
        base, why = marts.base, marts.why
        if base is None:
            progress(f"publish: every mart copied from the warehouse ({why})")
        else:
            progress(
                f"publish: {len(marts.copied)} changed mart(s) copied from the warehouse"
                f" ({', '.join(marts.copied) or 'none'}), {len(marts.reused)} unchanged taken over from"
                f" publication {base.publication_id}"
            )
        tables = {name: table.rows for name, table in marts.digests.items()}
        verdicts = marts.verdicts
        run_id = verdicts["validate"].run_id
        crm = export_crm_segments(folder / "analytics.duckdb", folder / "exports")
        if base is not None and base.contact_rules == rules:
            # The reused tables and files were checked under the same rules when first published.
            _refuse_contact_data(settings, folder, tables=[*marts.copied, "_publication"])
        else:
            _refuse_contact_data(settings, folder)
        production = _keep_dbt_artifacts(settings, verdicts["dbt build"].dbt_invocation_id, folder)
        database = (folder / "analytics.duckdb").stat()
        record = {
            "publication_id": publication_id,
            "run_id": run_id,
            # The instant the published data is current at: the next run audits what came after it.
            "as_of": verdicts["validate"].as_of,
            "published_at": published_at.isoformat(),
            "tables": tables,
            # What the next publication needs to start from this one: each table's digest and whether it
            # was copied from the warehouse or taken over from the publication before, the contact-data
            # rules it was checked under, and the database file as written (an erasure rewrites it).
            "marts": {
                name: {
                    "digest": table.digest,
                    "written": "copied" if name in marts.copied else "reused",
                }
                for name, table in marts.digests.items()
            },
            "built_from": base.publication_id if base is not None else None,
            "contact_rules": rules,
            "analytics_file": {"bytes": database.st_size, "mtime_ns": database.st_mtime_ns},
            "verdicts": {gate: verdict.describe() for gate, verdict in verdicts.items()},
            # Restatements of settled days an operator accepted (lifecycle run --accept-restatement).
            "accepted_restatements": accepted_days(settings),
            "dbt_invocation_id": production,
            "crm_segments": {
                "rows": crm.rows,
                "files": [f"exports/{crm.csv.name}", f"exports/{crm.parquet.name}"],
            },
        }
        (folder / "publication.json").write_text(json.dumps(record, indent=2))
        _sync_tree(folder)
        failpoint("publish:prepared")
        os.rename(folder, root / publication_id)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    failpoint("publish:renamed")
    _replace_link(root / "current", Path(publication_id))
    failpoint("publish:switched")
    ensure_links(settings)
    _prune(root)
    return Publication(
        publication_id, run_id, settings.analytics_path, tables, published_at, crm, tuple(marts.reused)
    )


def _copy_marts(
    settings: Settings, folder: Path, published_at: dt.datetime, base: _Base | None, why: str
) -> _Marts:
    """Copy the marts into ``folder/analytics.duckdb`` and Parquet, after checking the gates' verdicts.

    With a ``base`` publication that has a mart unchanged, its database file is copied first and only
    the tables whose digest changed are dropped and copied again; the unchanged ones keep their table and
    their Parquet file (a hard link). The warehouse stays attached read-only for the whole copy, so no
    writer can change it between the check of its fingerprint and the copy.
    """
    target = folder / "analytics.duckdb"
    marts_dir = folder / "exports" / "marts"
    with connect(settings=settings) as con:
        # The copies keep no row order, as dbt's tables in the warehouse keep none (profiles.yml): DuckDB
        # then writes each thread's rows as they come instead of putting them back in the scan's order.
        con.execute("set preserve_insertion_order = false")
        try:
            con.execute(f"attach {quote_literal(settings.warehouse_path)} as warehouse (read_only)")
        except duckdb.IOException as error:
            raise LifecycleError(
                f"cannot read {settings.warehouse_path} ({error}); is another process writing to it?"
            ) from error
        fingerprint, digests = marts_digests(con, "warehouse")
        if not digests:
            raise LifecycleError("no marts to publish in the warehouse: run `lifecycle transform` first")
        marts = _Marts(digests, require_publishable(settings, fingerprint), base, why)
        if base is not None and all(base.digests.get(n) != t.digest for n, t in digests.items()):
            # Nothing to take over: a fresh file costs less than dropping every table of a copy.
            marts.start_over("every mart changed since the previous publication")
        if marts.base is not None:
            try:
                _start_from(marts.base, target, settings)
            except _StartOver as error:
                _remove_database(target)
                marts.start_over(str(error))
        con.execute(f"attach {quote_literal(target)} as publication")
        started_from = marts.base
        unchanged = _drop_changed(con, marts)
        if started_from is not None and marts.base is None:  # the drops failed: the copy is unusable
            con.execute("detach publication")
            _remove_database(target)
            con.execute(f"attach {quote_literal(target)} as publication")
            unchanged = set()
        for name in digests:
            table = f"publication.main.{quote_ident(name)}"
            parquet = marts_dir / f"{name}.parquet"
            if marts.base is not None and name in unchanged:
                marts.reused.append(name)
                if not _link(marts.base.folder / "exports" / "marts" / f"{name}.parquet", parquet):
                    con.execute(f"copy {table} to {quote_literal(parquet)} (format parquet)")
            else:
                con.execute(
                    f"create table {table} as select * from warehouse.{PUBLISHED_SCHEMA}.{quote_ident(name)}"
                )
                con.execute(f"copy {table} to {quote_literal(parquet)} (format parquet)")
                marts.copied.append(name)
            failpoint("publish:copying")
        con.execute(
            "create table publication.main._publication as"
            " select ? as run_id, cast(? as timestamp) as as_of, cast(? as timestamp) as published_at,"
            " ? as tables",
            [
                marts.verdicts["validate"].run_id,
                marts.verdicts["validate"].as_of,
                published_at,
                ",".join(digests),
            ],
        )
        con.execute("detach warehouse")
        con.execute("checkpoint publication")
        con.execute("detach publication")
    return marts


def _drop_changed(con: duckdb.DuckDBPyConnection, marts: _Marts) -> set[str]:
    """In a publication started from ``marts.base`` (attached as ``publication``), drop every table but
    the unchanged marts, and name those; when that fails, ``marts`` starts over."""
    base = marts.base
    if base is None:
        return set()
    present = {
        r[0]
        for r in con.execute(
            "select table_name from duckdb_tables()"
            " where database_name = 'publication' and schema_name = 'main'"
        ).fetchall()
    }
    unchanged = {n for n, t in marts.digests.items() if n in present and base.digests.get(n) == t.digest}
    try:
        # Changed marts, marts no longer in the warehouse, and the publication's own record.
        for stale in sorted(present - unchanged):
            con.execute(f"drop table publication.main.{quote_ident(stale)}")
        # Their blocks become free at the checkpoint, so the tables copied next reuse them and the file
        # does not grow with every publication.
        con.execute("checkpoint publication")
    except duckdb.Error as error:
        marts.start_over(f"the previous publication's database could not be updated: {error}")
    return unchanged


def _base_publication(root: Path) -> tuple[_Base | None, str]:
    """The current publication to start from, or None and the reason every mart must be copied."""
    current = root / "current"
    if not current.is_symlink():
        return None, "first publication"
    folder = root / os.readlink(current)
    try:
        record = json.loads((folder / "publication.json").read_text())
        digests = {str(name): str(mart["digest"]) for name, mart in record["marts"].items()}
        stamp = (int(record["analytics_file"]["bytes"]), int(record["analytics_file"]["mtime_ns"]))
        run_id = str(record["run_id"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        return (
            None,
            f"the previous publication's record {folder.name}/publication.json is unreadable"
            f" or has no table digests ({error!r})",
        )
    database = folder / "analytics.duckdb"
    try:
        stat = database.stat()
    except OSError as error:
        return None, f"the previous publication's database is missing ({error})"
    if (stat.st_size, stat.st_mtime_ns) != stamp:
        return None, f"{folder.name}/analytics.duckdb changed since it was published (an erasure rewrites it)"
    if database.with_name(database.name + ".wal").exists():
        return (
            None,
            f"{folder.name}/analytics.duckdb has a write-ahead log (it was written after publication)",
        )
    contact_rules = record.get("contact_rules")
    return _Base(folder.name, folder, digests, str(contact_rules) if contact_rules else None, run_id), ""


def _start_from(base: _Base, target: Path, settings: Settings) -> None:
    """Copy the base publication's database to ``target`` (a new file: analysts may be reading the old
    one) and check that it opens, is the publication its record describes and is not mostly free blocks;
    _StartOver otherwise."""
    shutil.copyfile(base.folder / "analytics.duckdb", target)
    try:
        with connect(target, settings=settings) as con:
            tables = {
                r[0]
                for r in con.execute(
                    "select table_name from duckdb_tables()"
                    " where database_name = current_database() and schema_name = 'main'"
                ).fetchall()
            }
            run_id = (
                one_row(con, "select run_id from main._publication")[0] if "_publication" in tables else None
            )
            free, total = one_row(
                con,
                "select free_blocks, total_blocks from pragma_database_size()"
                " where database_name = current_database()",
            )
    except duckdb.Error as error:
        raise _StartOver(f"the previous publication's database cannot be read: {error}") from error
    if run_id != base.run_id or tables != {*base.digests, "_publication"}:
        raise _StartOver("the previous publication's database does not hold the tables its record lists")
    if total and free > MAX_FREE_SHARE * total:
        raise _StartOver(f"the previous publication's database is {free} free blocks of {total}: compacting")


def _link(source: Path, target: Path) -> bool:
    """Hard-link ``source`` as ``target`` (a copy across filesystems); False when there is no ``source``."""
    try:
        os.link(source, target)
    except FileNotFoundError:
        return False
    except OSError:
        shutil.copyfile(source, target)
    return True


def _remove_database(path: Path) -> None:
    for leftover in (path, path.with_name(path.name + ".wal")):
        leftover.unlink(missing_ok=True)


def _refuse_contact_data(settings: Settings, folder: Path, *, tables: list[str] | None = None) -> None:
    """No published column and no export may hold a value shaped like an e-mail address or phone number:
    personal data is hashed at staging and contact data in free text redacted there, so one here means a
    model or a source let it through. ``tables`` limits the check to the tables written anew (None: every
    table of the publication).

    The marts' Parquet files are not read: each is written from its table in the published database
    (``copy … to``), value for value, so checking the table checks the file, and reading both doubled the
    check. The other exports (the CRM files) are read whole."""
    with connect(settings=settings) as con:
        con.execute(f"attach {quote_literal(folder / 'analytics.duckdb')} as published (read_only)")
        names = [
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where database_name = 'published' order by 1"
            ).fetchall()
        ]
        relations = [f"published.main.{quote_ident(n)}" for n in names if tables is None or n in tables]
        marts = folder / "exports" / "marts"
        exports = [
            p
            for p in sorted((folder / "exports").rglob("*"), key=lambda p: (p.suffix == ".csv", p))
            if p.suffix in (".parquet", ".csv") and p.parent != marts
        ]
        readers = [
            f"read_csv({quote_literal(p)}, header = true, all_varchar = true)"
            if p.suffix == ".csv"
            else f"read_parquet({quote_literal(p)})"
            for p in exports
        ]
        problems = contact_data_violations(con, relations + readers)
    if problems:
        raise GateFailed(
            "publication refused: e-mail- or phone-shaped values in "
            + "; ".join(problems[:10])
            + " (redact them at staging: macros/redact_contact_data.sql, or hash the column)"
        )


def _keep_dbt_artifacts(settings: Settings, invocation_id: str | None, folder: Path) -> str | None:
    """Copy the build's dbt artifacts (kept by ``transform`` in ``state/build``) into the publication."""
    if invocation_id is None:  # a build not made by dbt (hand-made warehouses in tests): no artifacts
        return None
    source = settings.build_state_dir
    results = source / "run_results.json"
    found = json.loads(results.read_text())["metadata"]["invocation_id"] if results.exists() else None
    if found != invocation_id:
        raise LifecycleError(
            f"the dbt artifacts of the audited build (invocation {invocation_id}) are not in {source}"
            f" (found {found}): rerun `lifecycle transform` and the gates"
        )
    target = folder / "production"
    target.mkdir()
    for name in DBT_ARTIFACTS:
        shutil.copyfile(source / name, target / name)
    return invocation_id


def ensure_links(settings: Settings) -> None:
    """Point the stable paths at the current publication (also turns an older layout into links)."""
    if not (settings.publications_dir / "current").exists():
        return
    current = Path("publications") / "current"
    links = {
        settings.analytics_path: current / "analytics.duckdb",
        settings.exports_dir: current / "exports",
        settings.production_state_dir: Path("..") / current / "production",
        settings.last_publication_path: Path("..") / current / "publication.json",
    }
    for link, target in links.items():
        if not (link.is_symlink() and Path(os.readlink(link)) == target):
            _replace_link(link, target)


def read_publication(settings: Settings) -> dict[str, Any] | None:
    """The current publication's record (``publication.json``), or None before the first one."""
    path = settings.last_publication_path
    return json.loads(path.read_text()) if path.exists() else None


def _replace_link(link: Path, target: Path) -> None:
    """Make ``link`` a symbolic link to ``target`` with one atomic rename.

    A real folder in its place (the layout from before publications were folders, or a data directory
    copied without ``--preserve=links``) is moved aside first and removed after.
    """
    tmp = link.with_name(f".{link.name}-link-{uuid.uuid4().hex[:8]}")
    tmp.symlink_to(target)
    old = None
    if link.is_dir() and not link.is_symlink():
        old = link.with_name(f".{link.name}-old-{uuid.uuid4().hex[:8]}")
        link.rename(old)
    os.replace(tmp, link)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def remove_superseded(settings: Settings) -> list[str]:
    """Remove every publication folder but the current one: older publications and unfinished ones.

    Erasure calls this before it redacts the publications. A publication that is no longer current is read
    only by sessions that opened its files before the switch, and those keep reading what they opened
    whether the file is rewritten or removed (a rename or an unlink leaves an open file readable until it is
    closed), so removing it protects the person as well as redacting it, costs nothing, and spares a copy of
    every mart (the next publication would have pruned it anyway). Without a current publication only the
    unfinished folders go. Returns the names removed.
    """
    root = settings.publications_dir
    if not root.is_dir():
        return []
    link = root / "current"
    current = os.readlink(link) if link.is_symlink() and link.exists() else None
    superseded = [p for p in _finished(root) if current is not None and p.name != current and p.is_dir()]
    removed = []
    for folder in sorted([*root.glob(".new-*"), *superseded]):
        try:
            shutil.rmtree(folder)
        except OSError as error:
            raise LifecycleError(
                f"cannot remove the superseded publication {folder} ({error}): remove it by hand; it may"
                " hold data an erasure must remove"
            ) from error
        removed.append(folder.name)
    return removed


def _remove_unfinished(root: Path) -> None:
    """Folders of publications that a crash interrupted before they became current."""
    for leftover in root.glob(".new-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def _finished(root: Path) -> list[Path]:
    """The publication folders renamed into place (hidden ones are unfinished or temporary links)."""
    return sorted(p for p in root.iterdir() if not p.name.startswith(".") and p.name != "current")


def _prune(root: Path) -> None:
    current = os.readlink(root / "current")
    older = [p for p in _finished(root) if p.name != current and p.name < current]
    for stale in older[: max(0, len(older) - KEEP_PREVIOUS)]:
        shutil.rmtree(stale, ignore_errors=True)


def _sync_tree(folder: Path) -> None:
    """Flush the publication's files to disk before it is renamed into place (survives a power cut)."""
    for path in [*folder.rglob("*"), folder]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def failpoint(name: str) -> None:
    """Crash-test hook: ``LIFECYCLE_FAILPOINT=<name>`` kills the process here with SIGKILL (tests only)."""
    if os.environ.get("LIFECYCLE_FAILPOINT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
