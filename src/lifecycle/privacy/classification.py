"""Which columns hold personal data, as tagged in the dbt YAML (``config: meta: {pii: …}``).

The tags are the one list: erasure nulls the tagged columns of an erased person's rows, staging redacts
contact data in the columns tagged ``free_text``, and the classification check holds the marts to them.
Tag values: ``direct`` (the value identifies a person: e-mail, phone, name, birth date, address, IP),
``hashed`` (a salted hash of a direct value), ``free_text`` (text from outside that may carry contact data).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from lifecycle.config import PROJECT_DIR, read_yaml
from lifecycle.errors import LifecycleError
from lifecycle.storage import quote_ident

PII_KINDS = ("direct", "hashed", "free_text")


def _contact_regexes(project_dir: Path = PROJECT_DIR) -> tuple[str, str]:
    """The shapes of contact data, declared once as dbt vars (staging's redaction uses the same)."""
    variables = (read_yaml(project_dir / "dbt_project.yml") or {}).get("vars") or {}
    return str(variables["contact_email_regex"]), str(variables["contact_phone_regex"])


#: An e-mail address (also URL-encoded) and a phone number, as ``macros/redact_contact_data.sql`` finds them.
EMAIL_REGEX, PHONE_REGEX = _contact_regexes()


@dataclass(frozen=True)
class TaggedColumn:
    relation: str  # "source:app.customers" or "model:dim_customers"
    column: str
    kind: str


def tagged_columns(project_dir: Path) -> list[TaggedColumn]:
    """Every column tagged ``pii`` in the YAML under models/ and snapshots/."""
    found: list[TaggedColumn] = []
    for path in sorted([*project_dir.glob("models/**/*.yml"), *project_dir.glob("snapshots/**/*.yml")]):
        document = read_yaml(path) or {}
        for source in document.get("sources") or []:
            for table in source.get("tables") or []:
                relation = f"source:{source['name']}.{table.get('identifier', table['name'])}"
                found += _tags(path, relation, table.get("columns") or [])
        for kind in ("models", "snapshots"):
            for node in document.get(kind) or []:
                found += _tags(path, f"model:{node['name']}", node.get("columns") or [])
    return found


def _tags(path: Path, relation: str, columns: list[dict[str, Any]]) -> list[TaggedColumn]:
    tags = []
    for column in columns:
        meta = {**(column.get("meta") or {}), **((column.get("config") or {}).get("meta") or {})}
        if "pii" not in meta:
            continue
        kind = meta["pii"]
        if kind not in PII_KINDS:
            raise LifecycleError(
                f"{path}: column {column['name']} of {relation} has meta pii: {kind!r}; "
                f"use one of {', '.join(PII_KINDS)}"
            )
        tags.append(TaggedColumn(relation, column["name"], kind))
    return tags


def personal_columns(project_dir: Path) -> set[str]:
    """Names of the columns tagged ``direct`` or ``hashed``: erasure nulls them in an erased person's rows."""
    return {t.column for t in tagged_columns(project_dir) if t.kind in ("direct", "hashed")}


#: Either shape in one pattern: RE2 finds either in one pass over the text, twice as fast as two searches.
CONTACT_REGEX = f"(?:{EMAIL_REGEX})|(?:{PHONE_REGEX})"


def contact_data_sql(column: str) -> str:
    """A DuckDB condition: the text ``column`` holds something shaped like an e-mail address or phone."""
    return f"regexp_matches({column}, '{CONTACT_REGEX}')"


def contact_rules_digest() -> str:
    """A digest of what ``contact_data_violations`` looks for: a publication that reuses checked files
    checks them again when it differs from the one they were checked under."""
    return hashlib.sha256(contact_data_sql("column").encode()).hexdigest()


def contact_data_in(text: str) -> bool:
    """The Python twin of ``contact_data_sql`` (RE2 and Python agree on these patterns)."""
    return bool(re.search(CONTACT_REGEX, text))


def contact_data_violations(con: duckdb.DuckDBPyConnection, relations: list[str]) -> list[str]:
    """``relation.column (n rows)`` for every text column of ``relations`` (tables or file readers such
    as ``read_parquet('…')``) holding a value shaped like an e-mail address or phone number.

    One scan per relation counts every text column at once (a query per column would read a Parquet file
    once per column)."""
    problems = []
    for relation in relations:
        cursor = con.execute(f"select * from {relation} limit 0")
        names = [d[0] for d in cursor.description if str(d[1]) in ("VARCHAR", "STRING")]
        if not names:
            continue
        counts = ", ".join(f"count(*) filter (where {contact_data_sql(quote_ident(name))})" for name in names)
        row = con.execute(f"select {counts} from {relation}").fetchone() or ()
        problems += [f"{relation}.{name} ({n} rows)" for name, n in zip(names, row, strict=True) if n]
    return problems


def classification_violations(
    con: duckdb.DuckDBPyConnection, project_dir: Path, salt: str, *, marts_schema: str = "marts"
) -> list[str]:
    """Where the marts break the classification, judged on the data of a built warehouse (``con``):

    - a value of a raw column tagged ``direct`` found as is (trimmed, any case) in a mart column;
    - a mart column not tagged ``pii`` holding the salted hash of such a value, or contact-shaped text.
    """
    tags = tagged_columns(project_dir)
    tagged_marts = {
        (t.relation.removeprefix("model:"), t.column) for t in tags if t.relation.startswith("model:")
    }
    con.execute("create or replace temp table _personal_values (value varchar)")
    for tag in tags:
        if tag.kind != "direct" or not tag.relation.startswith("source:"):
            continue
        table = tag.relation.split(".", 1)[1]
        exists = con.execute(
            "select count(*) from duckdb_columns() where schema_name = 'raw' and table_name = ?"
            " and column_name = ? and database_name = current_database()",
            [table, tag.column],
        ).fetchone()
        if not exists or not exists[0]:
            continue
        con.execute(
            f"insert into _personal_values select distinct lower(trim(cast({_ident(tag.column)} as varchar)))"
            f" from raw.{_ident(table)} where {_ident(tag.column)} is not null"
        )
    con.execute(
        "create or replace temp table _personal_hashes as"
        " select distinct sha256(concat($salt, value)) as value from _personal_values",
        {"salt": salt},
    )
    problems = []
    columns = con.execute(
        "select table_name, column_name from duckdb_columns()"
        " where schema_name = ? and data_type = 'VARCHAR' and database_name = current_database()"
        " order by 1, 2",
        [marts_schema],
    ).fetchall()
    for table, column in columns:
        relation, name = f"{marts_schema}.{_ident(table)}", _ident(column)
        raw = _count(
            con,
            f"select count(*) from {relation}"
            f" where lower(trim({name})) in (select value from _personal_values)",
        )
        if raw:
            problems.append(f"{table}.{column}: {raw} value(s) of a raw column tagged pii: direct, unhashed")
        if (table, column) in tagged_marts:
            continue
        hashed = _count(
            con, f"select count(*) from {relation} where {name} in (select value from _personal_hashes)"
        )
        shaped = _count(con, f"select count(*) from {relation} where {contact_data_sql(name)}")
        if hashed or shaped:
            problems.append(
                f"{table}.{column}: holds personal data ({hashed} hashed contact(s), {shaped} contact-shaped"
                " value(s)) but its YAML has no meta pii tag"
            )
    return problems


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0
