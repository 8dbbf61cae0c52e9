"""Proof that two engines built the same table: row counts, a checksum per column, and the differing rows.

Both sides are queried through one DuckDB connection (the DuckDB mart as a table, the Spark mart as the
Parquet files of its managed table), each value first brought to one canonical text, so types that differ
only in width (``decimal(18,2)`` against ``decimal(38,2)``, ``int`` against ``bigint``) compare equal.
Floating-point values are compared at ``FLOAT_DIGITS`` significant digits: two engines may add the same
numbers in a different order, which changes the last bits and nothing an analyst reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from lifecycle.storage import quote_ident

#: Significant digits at which floating-point columns are compared.
FLOAT_DIGITS = 12
#: Differing rows reported per direction.
SAMPLE_ROWS = 5

_FLOAT_TYPES = frozenset({"FLOAT", "DOUBLE", "REAL"})


@dataclass(frozen=True)
class TableComparison:
    """How ``left`` and ``right`` differ (nothing, when ``equal``)."""

    name: str
    left_rows: int
    right_rows: int
    #: Columns whose checksums differ, and columns only one side has.
    differing_columns: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    #: Up to SAMPLE_ROWS canonical rows found on one side and not (as often) on the other.
    only_left: list[tuple[object, ...]] = field(default_factory=list)
    only_right: list[tuple[object, ...]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return (
            self.left_rows == self.right_rows
            and not self.differing_columns
            and not self.missing_columns
            and not self.only_left
            and not self.only_right
        )

    def report(self, left: str = "left", right: str = "right") -> str:
        """One line when equal; otherwise what differs and the first differing rows of each side."""
        if self.equal:
            return f"{self.name}: equal ({self.left_rows} rows)"
        lines = [f"{self.name}: DIFFERENT ({left} {self.left_rows} rows, {right} {self.right_rows} rows)"]
        if self.missing_columns:
            lines.append(f"  columns on one side only: {', '.join(self.missing_columns)}")
        if self.differing_columns:
            lines.append(f"  columns whose checksums differ: {', '.join(self.differing_columns)}")
        header = " | ".join(self.columns)
        for side, rows in ((left, self.only_left), (right, self.only_right)):
            if rows:
                lines.append(f"  first rows only in {side} ({header}):")
                lines.extend(
                    "    " + " | ".join("NULL" if v is None else str(v) for v in row) for row in rows
                )
        return "\n".join(lines)


def canonical_sql(column: str, type_: str) -> str:
    """SQL for the canonical text of ``column`` of DuckDB type ``type_`` (NULL stays NULL)."""
    name = quote_ident(column)
    upper = type_.upper()
    if upper in _FLOAT_TYPES:
        return f"printf('%.{FLOAT_DIGITS}g', {name})"
    if upper.startswith("DECIMAL"):
        # Normalised through a fixed scale, so 1.5 as decimal(18,1) and 1.50 as decimal(38,2) agree.
        return f"cast(cast({name} as decimal(38, 9)) as varchar)"
    if upper.startswith("TIMESTAMP"):
        return f"strftime(cast({name} as timestamp), '%Y-%m-%d %H:%M:%S.%f')"
    return f"cast({name} as varchar)"


def column_types(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    """Column name (lower case) -> DuckDB type of a relation or a query."""
    described = con.execute(f"describe select * from {relation}").fetchall()
    return {str(row[0]).lower(): str(row[1]) for row in described}


def compare(con: duckdb.DuckDBPyConnection, name: str, left: str, right: str) -> TableComparison:
    """Compare two relations (SQL table expressions DuckDB can select from) column by column, by name.

    Rows are compared as multisets (``except all`` both ways), so order does not matter and a duplicated
    row on one side is a difference.
    """
    left_types = column_types(con, left)
    right_types = column_types(con, right)
    shared = [c for c in left_types if c in right_types]
    missing = sorted(set(left_types) ^ set(right_types))

    def canonical(relation: str, types: dict[str, str]) -> str:
        columns = ",\n".join(f"{canonical_sql(c, types[c])} as {quote_ident(c)}" for c in shared)
        return f"select {columns} from {relation}"

    left_sql, right_sql = canonical(left, left_types), canonical(right, right_types)
    # hash() of NULL is a value, so a NULL and a missing row weigh differently.
    checksums = ", ".join(f"coalesce(sum(hash({quote_ident(c)})::hugeint), 0)" for c in shared)
    left_row = con.execute(f"select count(*), {checksums} from ({left_sql})").fetchone()
    right_row = con.execute(f"select count(*), {checksums} from ({right_sql})").fetchone()
    assert left_row is not None and right_row is not None
    differing = [c for c, a, b in zip(shared, left_row[1:], right_row[1:], strict=True) if a != b]
    order = ", ".join(str(i) for i in range(1, len(shared) + 1))
    only_left = con.execute(
        f"select * from (({left_sql}) except all ({right_sql})) order by {order} limit {SAMPLE_ROWS}"
    ).fetchall()
    only_right = con.execute(
        f"select * from (({right_sql}) except all ({left_sql})) order by {order} limit {SAMPLE_ROWS}"
    ).fetchall()
    return TableComparison(
        name=name,
        left_rows=int(left_row[0]),
        right_rows=int(right_row[0]),
        differing_columns=differing,
        missing_columns=missing,
        only_left=only_left,
        only_right=only_right,
        columns=shared,
    )
