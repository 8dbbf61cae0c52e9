"""The redaction rules, applied the same way to any table: a warehouse table, a published table, or a
Parquet or CSV file loaded into DuckDB.

- **Rows of the person**: in a table with a ``customer_id``, the columns classified as personal
  (``classification.personal_columns``) become null in that customer's rows; the key stays.
- **Raw lines**: a JSON line (``raw_text``) about that customer loses its personal fields.
- **Values anywhere**: text containing one of the person's identifiers (e-mail, phone, full name, or the
  hash of the e-mail or phone) has it replaced, whatever the table or column.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field

import duckdb

from lifecycle.storage import quote_ident, quote_literal

#: What an erased identifier is replaced with in text.
ERASED = "[erased]"
#: Needles per UPDATE: well under DuckDB's expression depth limit (1000 nested calls).
REPLACE_BATCH = 200
#: Needles per regular expression of the prefilter, keeping each automaton small (RE2 caps its memory).
PATTERN_BATCH = 500
_RE2_METACHARACTERS = frozenset("\\.+*?()|[]{}^$")


@dataclass(frozen=True)
class Erasure:
    """The people to erase: their keys, and (for the requests being applied now) their identifiers."""

    customer_ids: tuple[int, ...]
    identifiers: tuple[str, ...] = ()
    personal_columns: frozenset[str] = field(default_factory=frozenset)

    @property
    def ids_sql(self) -> str:
        return ", ".join(str(i) for i in self.customer_ids)


def redact_table(
    con: duckdb.DuckDBPyConnection,
    catalog: str,
    schema: str,
    table: str,
    erasure: Erasure,
    *,
    within: str | None = None,
) -> int:
    """Apply every rule to one table; the number of rows changed. ``within``: SQL limiting the rows
    looked at to those that can hold the people (raw's batches that ``erased_rows_sql`` found)."""
    if not erasure.customer_ids:
        return 0
    columns = {
        name: dtype
        for name, dtype in con.execute(
            "select column_name, data_type from duckdb_columns()"
            " where database_name = ? and schema_name = ? and table_name = ?",
            [catalog, schema, table],
        ).fetchall()
    }
    relation = ".".join(quote_ident(p) for p in (catalog, schema, table))
    scope = f" and ({within})" if within else ""
    changed = 0
    personal = [c for c in columns if c in erasure.personal_columns and c != "customer_id"]
    if "customer_id" in columns and personal:
        changed += _count(
            con,
            f"update {relation} set {', '.join(f'{quote_ident(c)} = null' for c in personal)}"
            f" where try_cast(customer_id as bigint) in ({erasure.ids_sql})"
            f" and ({' or '.join(f'{quote_ident(c)} is not null' for c in personal)}){scope}",
        )
    if columns.get("raw_text") == "VARCHAR" and erasure.personal_columns:
        keys = sorted(erasure.personal_columns - {"customer_id"})
        patch = json.dumps(dict.fromkeys(keys))
        changed += _count(
            con,
            f"update {relation} set raw_text = json_merge_patch(raw_text, {quote_literal(patch)})"
            " where json_valid(raw_text)"
            f" and try_cast(json_extract_string(raw_text, '$.customer_id') as bigint) in ({erasure.ids_sql})"
            f" and list_has_any(json_keys(raw_text), [{', '.join(quote_literal(k) for k in keys)}]){scope}",
        )
    needles = _needles(erasure.identifiers)
    text_columns = [quote_ident(c) for c, t in columns.items() if t == "VARCHAR"]
    if needles and text_columns:
        # One scan finds the rows holding any needle, column by column: a regular expression of the
        # needles as literal alternatives runs as one automaton over each value (RE2), where a contains()
        # per needle would read each value once per needle. Only the columns with a hit are updated.
        patterns = _patterns(erasure.identifiers)
        holding = {name: _holds_any(name, patterns) for name in text_columns}
        row = con.execute(
            f"select {', '.join(f'count(*) filter (where {found})' for found in holding.values())}"
            f" from {relation} where true{scope}"
        ).fetchone()
        for (name, found), hits in zip(holding.items(), row or (), strict=True):
            if not hits:
                continue
            changed += int(hits)
            # One nested replace() per needle, in order, longest first: DuckDB caps an expression's depth
            # (1000), so many erasures at once are applied in consecutive updates of REPLACE_BATCH needles,
            # which replace in the same order as one long chain would.
            for start in range(0, len(needles), REPLACE_BATCH):
                value = name
                for needle in needles[start : start + REPLACE_BATCH]:
                    value = f"replace({value}, {quote_literal(needle)}, {quote_literal(ERASED)})"
                con.execute(f"update {relation} set {name} = {value} where {found}{scope}")
    return changed


def _needles(identifiers: tuple[str, ...]) -> list[str]:
    """Each identifier as written, lower-cased, and URL-encoded, longest first (no partial replacement)."""
    variants = set()
    for identifier in identifiers:
        for form in (identifier, identifier.lower(), identifier.strip()):
            variants |= {form, form.replace("@", "%40"), form.replace(" ", "+"), form.replace("+", "%2B")}
    return sorted((v for v in variants if len(v) >= 6), key=lambda v: (-len(v), v))


def erased_rows_sql(columns: dict[str, str], erasure: Erasure) -> str | None:
    """SQL true on a row that ``redact_table``'s rules would change, given a table's columns (name ->
    DuckDB type); None when no rule applies to such a table. One scan with it says whether a file or a
    batch holds anything of the people being erased."""
    if not erasure.customer_ids:
        return None
    found = []
    personal = [quote_ident(c) for c in columns if c in erasure.personal_columns and c != "customer_id"]
    if "customer_id" in columns and personal:
        found.append(
            f"(try_cast(customer_id as bigint) in ({erasure.ids_sql})"
            f" and ({' or '.join(f'{c} is not null' for c in personal)}))"
        )
    keys = sorted(erasure.personal_columns - {"customer_id"})
    if columns.get("raw_text") == "VARCHAR" and keys:
        found.append(
            "(json_valid(raw_text)"
            f" and try_cast(json_extract_string(raw_text, '$.customer_id') as bigint) in ({erasure.ids_sql})"
            f" and list_has_any(json_keys(raw_text), [{', '.join(quote_literal(k) for k in keys)}]))"
        )
    text = identifiers_found_sql(erasure, [quote_ident(c) for c, t in columns.items() if t == "VARCHAR"])
    if text:
        found.append(f"({text})")
    return " or ".join(found) or None


def identifiers_found_sql(erasure: Erasure, text_columns: list[str]) -> str | None:
    """SQL true on a row where any of ``text_columns`` (quoted) holds one of the erasure's identifiers;
    None when there is nothing to look for."""
    patterns = _patterns(erasure.identifiers)
    if not patterns or not text_columns:
        return None
    return " or ".join(_holds_any(column, patterns) for column in text_columns)


def _holds_any(column: str, patterns: tuple[str, ...]) -> str:
    """SQL that is true when ``column`` matches any of ``patterns`` (see ``_patterns``)."""
    return "(" + " or ".join(f"regexp_matches({column}, {quote_literal(p)})" for p in patterns) + ")"


@functools.cache
def _patterns(identifiers: tuple[str, ...]) -> tuple[str, ...]:
    """The identifiers' needles as RE2 patterns of literal alternatives, PATTERN_BATCH a pattern: built
    once per erasure, not once per table, column and file."""
    needles = _needles(identifiers)
    return tuple(
        "|".join(_literal_pattern(n) for n in needles[start : start + PATTERN_BATCH])
        for start in range(0, len(needles), PATTERN_BATCH)
    )


def _literal_pattern(text: str) -> str:
    """``text`` as an RE2 pattern matching exactly it: its metacharacters escaped, nothing else."""
    return "".join(f"\\{c}" if c in _RE2_METACHARACTERS else c for c in text)


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0


def redact_catalog(
    con: duckdb.DuckDBPyConnection,
    catalog: str,
    erasure: Erasure,
    *,
    skip_schemas: tuple[str, ...] = (),
    only_schema: str | None = None,
) -> dict[str, int]:
    """Apply the rules to every base table of an attached database; rows changed per ``schema.table``."""
    tables = con.execute(
        "select schema_name, table_name from duckdb_tables() where database_name = ? order by 1, 2", [catalog]
    ).fetchall()
    changed = {}
    for schema, table in tables:
        if schema in skip_schemas or (only_schema is not None and schema != only_schema):
            continue
        rows = redact_table(con, catalog, schema, table, erasure)
        if rows:
            changed[f"{schema}.{table}"] = rows
    return changed


def redact_bytes(data: bytes, identifiers: tuple[str, ...]) -> bytes:
    """A text file's bytes with every identifier replaced (JSON, HTML, Markdown, logs)."""
    for needle in _needles(identifiers):
        data = data.replace(needle.encode(), ERASED.encode())
    return data
