"""The redaction rules, applied the same way to any table: a warehouse table, a published table, or a
Parquet or CSV file loaded into DuckDB.

- **Rows of the person**: in a table with a ``customer_id``, the columns classified as personal
  (``classification.personal_columns``) become null in that customer's rows; the key stays.
- **Raw lines**: a JSON line (``raw_text``) about that customer loses its personal fields.
- **Values anywhere**: text containing one of the person's identifiers (e-mail, phone, full name, or the
  hash of the e-mail or phone) has it replaced, whatever the table or column.

Each rule is written once (``row_rules``, ``identifier_rules``: per column, its new value and the rows it
changes) and applied either in place (``redact_table``, the warehouse's UPDATEs) or to the rows of a copy
(``redacted_rows``, a query that a published database's fresh file is filled from).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

import duckdb

from lifecycle.storage import quote_ident, quote_literal

#: What an erased identifier is replaced with in text.
ERASED = "[erased]"
#: Needles per chain of replace() (one UPDATE, or one subquery of a copy): well under DuckDB's expression
#: depth limit (1000 nested calls).
REPLACE_BATCH = 200
#: Needles per regular expression of the prefilter, keeping each automaton small (RE2 caps its memory).
PATTERN_BATCH = 500
#: Up to this many needles in all, a search looks for each with one contains(), beyond it with regular
#: expressions of the needles as literal alternatives (RE2: one pass for all, but slower per byte).
#: Measured on the clickstream's raw text after 113 days, as a WHERE with the guards below: 44 needles
#: (four people) 0.46 s against 0.75 s, 88 needles 0.71 against 0.75 s, 176 needles 1.23 against 0.77 s.
CONTAINS_LIMIT = 80
#: The same limit for the conditions redacted_rows evaluates on a query's rows (a copy's count and its
#: CASE), not in a table scan's filter, where DuckDB evaluates a contains() once per distinct value of a
#: dictionary-compressed column: redacting the published database for four people (44 needles) took
#: 3.0 s with contains() against 1.7 s with RE2.
COPY_CONTAINS_LIMIT = 30
#: A needle is looked for only in the values holding its first character of these (every form of an
#: e-mail has "@" or "%40", of a full name or a phone " " or "+"): a value without that character cannot
#: hold the needle, and one contains() of a single character is a fast scan, where most text (ids,
#: timestamps, JSON without those characters) never reaches the needles themselves. A needle with none
#: of them (a salted hash) is looked for only in values at least as long as it. Both are exact: they
#: only skip values that cannot hold the needle. The clickstream's raw text after 113 days, one person:
#: 0.41 → 0.24 s; four people: 1.00 → 0.44 s.
GUARD_CHARACTERS = "@%+ "
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


@dataclass(frozen=True)
class Rule:
    """One change a rule makes to a table: each ``(column, expression)`` of ``assignments`` (quoted SQL)
    sets the column in the rows where ``where`` holds. Both read the row as the rules before left it."""

    where: str
    assignments: tuple[tuple[str, str], ...]


def row_rules(columns: dict[str, str], erasure: Erasure) -> tuple[Rule, ...]:
    """The rules of the person's rows, for a table of ``columns`` (name: type): personal columns null,
    personal fields out of raw JSON lines. They read and set different columns, so they apply to the
    stored row in any order, or at once."""
    if not erasure.customer_ids:
        return ()
    rules = []
    personal = [c for c in columns if c in erasure.personal_columns and c != "customer_id"]
    if "customer_id" in columns and personal:
        rules.append(
            Rule(
                f"try_cast(customer_id as bigint) in ({erasure.ids_sql})"
                f" and ({' or '.join(f'{quote_ident(c)} is not null' for c in personal)})",
                tuple((quote_ident(c), "null") for c in personal),
            )
        )
    if columns.get("raw_text") == "VARCHAR" and erasure.personal_columns:
        keys = sorted(erasure.personal_columns - {"customer_id"})
        patch = json.dumps(dict.fromkeys(keys))
        # The JSON functions fail on a line that is not JSON: the case guards them wherever the predicate
        # is evaluated (a filter, or a projection that evaluates every operand).
        rules.append(
            Rule(
                "case when json_valid(raw_text) then"
                f" try_cast(json_extract_string(raw_text, '$.customer_id') as bigint) in ({erasure.ids_sql})"
                f" and list_has_any(json_keys(raw_text), [{', '.join(quote_literal(k) for k in keys)}])"
                " else false end",
                (("raw_text", f"json_merge_patch(raw_text, {quote_literal(patch)})"),),
            )
        )
    return tuple(rules)


#: The column types searched as text. JSON is text too (DuckDB stores it as its VARCHAR): the clickstream's
#: ``context`` is an object a source fills as it likes, and an identifier in it is a copy like any other.
TEXT_TYPES = frozenset({"VARCHAR", "JSON"})


def text_columns(columns: dict[str, str], erasure: Erasure) -> list[str]:
    """The columns (quoted) searched for the erasure's identifiers: every text column (``TEXT_TYPES``), if
    there are any identifiers."""
    if not erasure.customer_ids or not _needles(erasure.identifiers):
        return []
    return [quote_ident(c) for c, t in columns.items() if t in TEXT_TYPES]


def holds_identifier(column: str, erasure: Erasure, *, contains_limit: int | None = None) -> str:
    """SQL true where ``column`` (quoted) holds one of the erasure's identifiers. The needles are grouped
    by their guard (GUARD_CHARACTERS): each group is looked for only where its guard holds; a few needles
    in all with one contains() each, many with regular expressions of the needles as literal
    alternatives, each running as one automaton over the value (RE2): ``contains_limit`` needles at most
    for contains() (default CONTAINS_LIMIT, read at each call)."""
    found = []
    limit = CONTAINS_LIMIT if contains_limit is None else contains_limit
    few = len(_needles(erasure.identifiers)) <= limit
    for group in _groups(erasure.identifiers):
        guard = (
            f"contains({column}, {quote_literal(group.character)})"
            if group.character
            else f"strlen({column}) >= {min(len(n) for n in group.needles)}"
        )
        if few:
            needles = [f"contains({column}, {quote_literal(n)})" for n in group.needles]
        else:
            needles = [f"regexp_matches({column}, {quote_literal(p)})" for p in group.patterns]
        found.append(f"({guard} and ({' or '.join(needles)}))")
    return "(" + " or ".join(found) + ")"


def identifier_rules(column: str, erasure: Erasure, *, contains_limit: int | None = None) -> tuple[Rule, ...]:
    """The identifiers of ``column`` (quoted) replaced, applied in turn to the rows holding one after the
    row rules. One nested replace() per needle, longest first; DuckDB caps an expression's depth (1000), so
    the needles are split into chunks of REPLACE_BATCH, whose rules replace in the same order as one long
    chain would."""
    found = holds_identifier(column, erasure, contains_limit=contains_limit)
    needles = _needles(erasure.identifiers)
    rules = []
    for start in range(0, len(needles), REPLACE_BATCH):
        value = column
        for needle in needles[start : start + REPLACE_BATCH]:
            value = f"replace({value}, {quote_literal(needle)}, {quote_literal(ERASED)})"
        rules.append(Rule(found, ((column, value),)))
    return tuple(rules)


def redact_table(
    con: duckdb.DuckDBPyConnection,
    catalog: str,
    schema: str,
    table: str,
    erasure: Erasure,
    *,
    within: str | None = None,
    only: Iterable[str] | None = None,
) -> int:
    """Apply every rule to one table in place; the number of rows changed (by each rule: a row two rules
    change counts twice). ``within``: SQL limiting the rows looked at to those that can hold the people
    (raw's batches that ``erased_rows_sql`` found). ``only``: the columns the rules may read and change
    (default: all)."""
    columns = table_columns(con, catalog, schema, table)
    if only is not None:
        wanted = set(only)
        columns = {name: kind for name, kind in columns.items() if name in wanted}
    relation = ".".join(quote_ident(p) for p in (catalog, schema, table))
    if not _count(con, f"select count(*) from {relation}"):
        # Nothing to change, and planning the search of every text column for every needle costs more
        # than reading a small table: most of the tests' stored failures are empty.
        return 0
    scope = f" and ({within})" if within else ""
    changed = 0
    for rule in row_rules(columns, erasure):
        changed += _count(con, _update(relation, rule, scope))
    # Only the columns holding an identifier are updated.
    texts = text_columns(columns, erasure)
    for column, hits in _identifier_hits(con, relation, texts, erasure, scope).items():
        changed += hits
        for rule in identifier_rules(column, erasure):
            con.execute(_update(relation, rule, scope))
    return changed


def erased_rows_sql(columns: dict[str, str], erasure: Erasure) -> str | None:
    """SQL true on a row of a table of ``columns`` (name: type) that a rule changes; None when no rule
    applies to such a table. One scan with it says whether a file or a batch holds anything of the
    people being erased."""
    found = [f"({rule.where})" for rule in row_rules(columns, erasure)]
    found += [holds_identifier(column, erasure) for column in text_columns(columns, erasure)]
    return " or ".join(found) or None


def _update(relation: str, rule: Rule, scope: str = "") -> str:
    assignments = ", ".join(f"{column} = {value}" for column, value in rule.assignments)
    return f"update {relation} set {assignments} where ({rule.where}){scope}"


def redacted_rows(
    con: duckdb.DuckDBPyConnection, catalog: str, schema: str, table: str, erasure: Erasure
) -> tuple[str, int]:
    """A query of one table's rows with every rule applied (the table is not changed), and the number of
    rows it changes, counted as ``redact_table`` counts them. A table with nothing to change is
    ``select *``."""
    columns = table_columns(con, catalog, schema, table)
    rows = f"select * from {'.'.join(quote_ident(p) for p in (catalog, schema, table))}"
    rules = row_rules(columns, erasure)
    texts = text_columns(columns, erasure)
    if not rules and not texts:
        return rows, 0
    # One scan counts the rows each row rule changes and, in the rows as those rules leave them, the rows
    # holding an identifier per text column: the rules with nothing to change are left out of the query.
    # The same conditions as a WHERE first: DuckDB evaluates a WHERE's disjunction guard by guard on
    # the rows still undecided (GUARD_CHARACTERS), an aggregate's FILTER on every row.
    found = [f"{_FLAG}{i}" for i in range(len(rules))] + [
        holds_identifier(c, erasure, contains_limit=COPY_CONTAINS_LIMIT) for c in texts
    ]
    counts = ", ".join(f"count(*) filter (where {f})" for f in found)
    row = con.execute(
        f"select {counts} from ({_apply(rows, rules, flag=True)}) where {' or '.join(found)}"
    ).fetchone()
    hits = [int(n) for n in row or ()]
    query = _apply(rows, [rule for rule, n in zip(rules, hits, strict=False) if n])
    chunks = [
        identifier_rules(c, erasure, contains_limit=COPY_CONTAINS_LIMIT)
        for c, n in zip(texts, hits[len(rules) :], strict=True)
        if n
    ]
    # Each chunk of replacements reads the values the chunk before left: one subquery per chunk.
    for chunk in zip(*chunks, strict=True):
        query = _apply(query, chunk)
    return query, sum(hits)


#: The column ``_apply`` adds per rule, true where the rule changes the row (for counting).
_FLAG = "__redaction_rule_"


def _apply(query: str, rules: Iterable[Rule], *, flag: bool = False) -> str:
    """``query`` with ``rules`` applied to its rows: rules that set different columns and read none that
    another one sets, each setting its columns where its predicate holds. ``flag``: a boolean column per
    rule, ``_FLAG`` and its position, true where it holds."""
    applied = list(rules)
    if not applied:
        return query
    replaced = ", ".join(
        f"case when {rule.where} then {value} else {column} end as {column}"
        for rule in applied
        for column, value in rule.assignments
    )
    flags = "".join(f"{rule.where} as {_FLAG}{i}, " for i, rule in enumerate(applied)) if flag else ""
    return f"select {flags}* replace ({replaced}) from ({query})"


def table_columns(con: duckdb.DuckDBPyConnection, catalog: str, schema: str, table: str) -> dict[str, str]:
    """Name: type of each column (``describe`` of the one table, where ``duckdb_columns()`` would list
    every column of every attached database for each table)."""
    relation = ".".join(quote_ident(p) for p in (catalog, schema, table))
    return {str(row[0]): str(row[1]) for row in con.execute(f"describe {relation}").fetchall()}


def _identifier_hits(
    con: duckdb.DuckDBPyConnection, relation: str, columns: list[str], erasure: Erasure, scope: str = ""
) -> dict[str, int]:
    """The rows holding an identifier, per column of ``columns`` that has any: one scan for all, its WHERE
    the columns' conditions together (evaluated guard by guard, see redacted_rows)."""
    if not columns:
        return {}
    found = [holds_identifier(c, erasure) for c in columns]
    row = con.execute(
        f"select {', '.join(f'count(*) filter (where {f})' for f in found)}"
        f" from {relation} where ({' or '.join(found)}){scope}"
    ).fetchone()
    return {column: int(hits) for column, hits in zip(columns, row or (), strict=True) if hits}


@functools.cache
def _needles(identifiers: tuple[str, ...]) -> tuple[str, ...]:
    """Each identifier as written, lower-cased, and URL-encoded, longest first (no partial replacement)."""
    variants = set()
    for identifier in identifiers:
        for form in (identifier, identifier.lower(), identifier.strip()):
            variants |= {form, form.replace("@", "%40"), form.replace(" ", "+"), form.replace("+", "%2B")}
    return tuple(sorted((v for v in variants if len(v) >= 6), key=lambda v: (-len(v), v)))


@dataclass(frozen=True)
class _Group:
    """Needles looked for together: where ``character`` occurs (empty: in values as long as the shortest
    needle), with ``patterns`` their RE2 alternatives, PATTERN_BATCH needles a pattern."""

    character: str
    needles: tuple[str, ...]
    patterns: tuple[str, ...]


@functools.cache
def _groups(identifiers: tuple[str, ...]) -> tuple[_Group, ...]:
    """The identifiers' needles grouped by guard (GUARD_CHARACTERS): built once per erasure, not once per
    table, column and file."""
    grouped: dict[str, list[str]] = {}
    for needle in _needles(identifiers):
        guard = next((c for c in GUARD_CHARACTERS if c in needle), "")
        grouped.setdefault(guard, []).append(needle)
    return tuple(
        _Group(
            guard,
            tuple(needles),
            tuple(
                "|".join(_literal_pattern(n) for n in needles[start : start + PATTERN_BATCH])
                for start in range(0, len(needles), PATTERN_BATCH)
            ),
        )
        for guard, needles in sorted(grouped.items())
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
