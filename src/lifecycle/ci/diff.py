"""Data diff of a rebuilt mart against production, in DuckDB SQL over both files attached read-only.

Rows are matched by the mart's primary key (the column with both ``unique`` and ``not_null`` tests in the
dbt manifest); a mart without one is compared as a multiset of rows (added and removed only).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb

from lifecycle.storage import connect, quote_ident, quote_literal

#: Catalog names the two files are attached under. ``warehouse`` is also the name the production manifest
#: gives the production database, so the PR file's deferred views resolve here too.
PRODUCTION = "warehouse"
PR = "pr"
EXAMPLES = 3


@dataclass(frozen=True)
class SchemaChange:
    column: str
    kind: Literal["added", "removed", "retyped"]
    before: str | None
    after: str | None

    def describe(self) -> str:
        if self.kind == "added":
            return f"`{self.column}` added ({self.after})"
        if self.kind == "removed":
            return f"`{self.column}` removed (was {self.before})"
        return f"`{self.column}` retyped {self.before} → {self.after}"


@dataclass(frozen=True)
class ColumnChange:
    """How many matched rows have a different value in one column, with a few (key, before, after)."""

    column: str
    changed: int
    examples: tuple[tuple[str, str, str], ...]


@dataclass(frozen=True)
class MartDiff:
    name: str
    schema: str
    primary_key: tuple[str, ...]  # empty: no key, rows compared as a multiset
    production_rows: int | None  # None: the mart is new, there is nothing to compare with
    pr_rows: int
    schema_changes: tuple[SchemaChange, ...] = ()
    added: int = 0
    removed: int = 0
    changed: int = 0
    added_examples: tuple[str, ...] = ()
    removed_examples: tuple[str, ...] = ()
    columns: tuple[ColumnChange, ...] = ()

    @property
    def is_new(self) -> bool:
        return self.production_rows is None

    @property
    def has_differences(self) -> bool:
        return bool(self.is_new or self.schema_changes or self.added or self.removed or self.changed)


@contextmanager
def attached(production: Path, pr: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB session with both databases attached read-only."""
    con = connect()
    try:
        con.execute(f"attach {quote_literal(production)} as {PRODUCTION} (read_only)")
        con.execute(f"attach {quote_literal(pr)} as {PR} (read_only)")
        yield con
    finally:
        con.close()


def columns_of(con: duckdb.DuckDBPyConnection, catalog: str, schema: str, table: str) -> dict[str, str]:
    """Column name → DuckDB type, in table order; empty when the table does not exist."""
    rows = con.execute(
        "select column_name, data_type from duckdb_columns()"
        " where database_name = ? and schema_name = ? and table_name = ? order by column_index",
        [catalog, schema, table],
    ).fetchall()
    return {name: type_ for name, type_ in rows}


def schema_changes(before: Mapping[str, str], after: Mapping[str, str]) -> tuple[SchemaChange, ...]:
    """Added, removed and retyped columns between two column → type mappings (a pure function)."""
    changes = [SchemaChange(c, "removed", t, None) for c, t in before.items() if c not in after]
    changes += [
        SchemaChange(c, "retyped", t, after[c]) for c, t in before.items() if c in after and after[c] != t
    ]
    changes += [SchemaChange(c, "added", None, t) for c, t in after.items() if c not in before]
    return tuple(changes)


def diff_mart(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    primary_key: Sequence[str] = (),
) -> MartDiff:
    """Compare ``pr.<schema>.<table>`` with ``warehouse.<schema>.<table>`` (a session from attached())."""
    new = f"{PR}.{quote_ident(schema)}.{quote_ident(table)}"
    old = f"{PRODUCTION}.{quote_ident(schema)}.{quote_ident(table)}"
    key = tuple(primary_key)
    pr_rows = _scalar(con, f"select count(*) from {new}")
    before = columns_of(con, PRODUCTION, schema, table)
    if not before:
        return MartDiff(table, schema, key, None, pr_rows)
    after = columns_of(con, PR, schema, table)
    production_rows = _scalar(con, f"select count(*) from {old}")
    changes = schema_changes(before, after)
    common = [c for c in after if c in before]
    if not key or not set(key) <= set(common):
        return _diff_without_key(con, table, schema, old, new, common, production_rows, pr_rows, changes)

    compared = [c for c in common if c not in key]
    # Retyped columns are compared as text, so a decimal that became a double still shows its values.
    distinct = {c: _distinct(c, retyped=before[c] != after[c]) for c in compared}
    any_changed = " or ".join(f"({d})" for d in distinct.values()) or "false"
    flags = "".join(f"coalesce({d}, false) as {quote_ident('_changed_' + c)},\n" for c, d in distinct.items())
    keys = ", ".join(
        f"coalesce(old.{quote_ident(c)}, new.{quote_ident(c)}) as {quote_ident('_key_' + c)}" for c in key
    )
    con.execute(
        f"""
        create or replace temp table matched as
        select
            {_key_text("coalesce(old.{c}, new.{c})", key)} as _key,
            {keys},
            old._present is not null as _in_old,
            new._present is not null as _in_new,
            {flags}
            coalesce({any_changed}, false) as _any_changed
        from (select *, true as _present from {old}) as old
        full outer join (select *, true as _present from {new}) as new
            on {_key_join(key)}
        """
    )
    totals = con.execute(
        "select"
        " count(*) filter (where _in_new and not _in_old),"
        " count(*) filter (where _in_old and not _in_new),"
        " count(*) filter (where _in_old and _in_new and _any_changed)"
        + "".join(
            f", count(*) filter (where _in_old and _in_new and {quote_ident('_changed_' + c)})"
            for c in compared
        )
        + " from matched"
    ).fetchone()
    assert totals is not None
    added, removed, changed, *per_column = totals
    columns = tuple(
        ColumnChange(c, n, _value_examples(con, old, new, key, c, retyped=before[c] != after[c]))
        for c, n in zip(compared, per_column, strict=True)
        if n
    )
    return MartDiff(
        name=table,
        schema=schema,
        primary_key=key,
        production_rows=production_rows,
        pr_rows=pr_rows,
        schema_changes=changes,
        added=added,
        removed=removed,
        changed=changed,
        added_examples=_keys(con, key, "_in_new and not _in_old"),
        removed_examples=_keys(con, key, "_in_old and not _in_new"),
        columns=columns,
    )


def _diff_without_key(
    con: duckdb.DuckDBPyConnection,
    table: str,
    schema: str,
    old: str,
    new: str,
    common: Sequence[str],
    production_rows: int,
    pr_rows: int,
    changes: tuple[SchemaChange, ...],
) -> MartDiff:
    # Without a key a changed row is one removed plus one added: compare the shared columns as multisets.
    shared = ", ".join(quote_ident(c) for c in common) or "1"
    added = _scalar(
        con, f"select count(*) from (select {shared} from {new} except all select {shared} from {old})"
    )
    removed = _scalar(
        con, f"select count(*) from (select {shared} from {old} except all select {shared} from {new})"
    )
    return MartDiff(table, schema, (), production_rows, pr_rows, changes, added=added, removed=removed)


def _distinct(column: str, *, retyped: bool) -> str:
    c = quote_ident(column)
    if retyped:
        return f"cast(old.{c} as varchar) is distinct from cast(new.{c} as varchar)"
    return f"old.{c} is distinct from new.{c}"


def _key_join(key: Sequence[str]) -> str:
    return " and ".join(f"old.{quote_ident(c)} = new.{quote_ident(c)}" for c in key)


def _key_text(template: str, key: Sequence[str]) -> str:
    """One key as text: the value, or ``a, b`` for a composite key."""
    parts = [f"cast({template.format(c=quote_ident(c))} as varchar)" for c in key]
    return parts[0] if len(parts) == 1 else f"concat_ws(', ', {', '.join(parts)})"


def _value_examples(
    con: duckdb.DuckDBPyConnection,
    old: str,
    new: str,
    key: Sequence[str],
    column: str,
    *,
    retyped: bool,
) -> tuple[tuple[str, str, str], ...]:
    c = quote_ident(column)
    order = ", ".join(f"old.{quote_ident(k)}" for k in key)
    rows = con.execute(
        f"select {_key_text('old.{c}', key)}, cast(old.{c} as varchar), cast(new.{c} as varchar)"
        f" from {old} as old join {new} as new on {_key_join(key)}"
        f" where {_distinct(column, retyped=retyped)} order by {order} limit {EXAMPLES}"
    ).fetchall()
    return tuple((str(k), _shown(b), _shown(a)) for k, b, a in rows)


def _keys(con: duckdb.DuckDBPyConnection, key: Sequence[str], where: str) -> tuple[str, ...]:
    order = ", ".join(quote_ident("_key_" + c) for c in key)
    rows = con.execute(f"select _key from matched where {where} order by {order} limit {EXAMPLES}").fetchall()
    return tuple(str(r[0]) for r in rows)


def _shown(value: Any) -> str:
    return "null" if value is None else str(value)


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    assert row is not None
    return int(row[0])
