"""Ad-platform drops: semicolon CSVs with a decimal comma and a BOM, landed into ``raw.ads_spend``.

The partner's dialect is declared here, not sniffed, and numbers are read in it only: a number written in
another dialect (``1.5`` or ``1,234.5`` where the decimal mark is a comma) is quarantined, never
reinterpreted. Columns are mapped by header name, so a reordered file loads the same. Every drop lands
whole as a new version (``_source_file``); restatements of earlier days are resolved downstream (latest
drop wins), never by overwriting raw rows.
The files are tiny (a few hundred rows), so Python's csv module reads them: it gives exact line numbers
for the quarantine, which DuckDB's CSV reader does not expose.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd

from lifecycle.errors import LifecycleError
from lifecycle.ingest.files import SourceFile, new_files, record_loaded
from lifecycle.ingest.landing import (
    Batch,
    ensure_raw_table,
    future_reason,
    latest_allowed,
    log_failure,
    transaction,
    utc_now,
)
from lifecycle.ingest.schemas import AD_FIELDS

SOURCE = "ads"
RAW_TABLE = "ads_spend"


@dataclass(frozen=True)
class Dialect:
    delimiter: str = ";"
    quotechar: str = '"'
    decimal: str = ","
    #: Digit-group separator (``.`` in ``1.234,56``); None: the partner writes numbers without one.
    thousands: str | None = None
    encoding: str = "utf-8-sig"  # utf-8 with an optional byte-order mark

    def describe(self) -> str:
        groups = f"thousands separator {self.thousands!r}" if self.thousands else "no thousands separator"
        return f"decimal mark {self.decimal!r}, {groups}"

    def number(self) -> re.Pattern[str]:
        """A number in this dialect: sign, ASCII digits (in threes if the dialect groups), fraction."""
        digits = "[0-9]+"
        if self.thousands:
            digits = f"(?:[0-9]{{1,3}}(?:{re.escape(self.thousands)}[0-9]{{3}})+|[0-9]+)"
        return re.compile(f"(?P<sign>-?)(?P<int>{digits})(?:{re.escape(self.decimal)}(?P<frac>[0-9]+))?")


PARTNER_DIALECT = Dialect()
_DECIMAL = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")
BIGINT_MAX = 2**63 - 1


def parse_value(name: str, text: str, dialect: Dialect = PARTNER_DIALECT) -> object:
    """One cell to its declared type, exactly; raises ValueError naming the field.

    A number must be written in ``dialect`` and fit its type without rounding: ``1,234`` is rejected as a
    DECIMAL(18,2) (three decimals), not landed as 1.23.
    """
    kind = AD_FIELDS[name]
    text = text.strip()
    if text == "":
        return None
    if kind == "DATE":
        try:
            return dt.date.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"{name}={text!r} is not a DATE (YYYY-MM-DD)") from exc
    if kind != "BIGINT" and not kind.startswith("DECIMAL"):
        return text
    match = dialect.number().fullmatch(text)
    if match is None or (kind == "BIGINT" and match["frac"] is not None):
        raise ValueError(f"{name}={text!r} is not {kind} in the partner's dialect ({dialect.describe()})")
    whole = match["int"].replace(dialect.thousands or dialect.decimal, "")
    if kind == "BIGINT":
        value = int(match["sign"] + whole)
        if abs(value) > BIGINT_MAX:
            raise ValueError(f"{name}={text!r} is out of the range of {kind}")
        return value
    precision, scale = (int(g) for g in _DECIMAL.fullmatch(kind).groups())  # type: ignore[union-attr]
    fraction = (match["frac"] or "").rstrip("0")
    if len(fraction) > scale:
        raise ValueError(
            f"{name}={text!r} has {len(fraction)} digits after the decimal mark; {kind} keeps {scale}"
        )
    if len(whole.lstrip("0")) > precision - scale:
        raise ValueError(f"{name}={text!r} is out of the range of {kind}")
    return Decimal(f"{match['sign']}{whole}.{fraction or '0'}").quantize(Decimal(1).scaleb(-scale))


def parse_drop(
    file: SourceFile, dialect: Dialect = PARTNER_DIALECT, as_of: dt.datetime | None = None
) -> tuple[list[dict[str, object]], list[tuple[int, str, str]]]:
    """Rows of one drop by header name, and (line number, raw text, reason) of rows that cannot load.

    With an ``as_of``, a row for a day that starts after it (beyond the clock-skew tolerance) cannot load
    either: its reason starts with ``future:``.
    """
    last_day = None if as_of is None else latest_allowed(as_of).date()
    try:
        text = file.path.read_bytes().decode(dialect.encoding)
    except (OSError, UnicodeDecodeError) as exc:
        raise LifecycleError(f"ads: cannot read {file.relative}: {exc}; retried next run") from exc
    raw_lines = text.splitlines()
    reader = csv.reader(io.StringIO(text), delimiter=dialect.delimiter, quotechar=dialect.quotechar)
    header = [h.strip().lower() for h in next(reader, [])]
    missing = [name for name in AD_FIELDS if name not in header]
    if missing:
        raise LifecycleError(
            f"ads: column(s) {', '.join(missing)} missing from the header of {file.relative} "
            f"(found: {', '.join(header)}); a removed field fails the ads load"
        )
    rows, rejected = [], []
    for record in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(header):
            rejected.append(
                (line, raw_lines[line - 1], f"expected {len(header)} fields, found {len(record)}")
            )
            continue
        cells = dict(zip(header, record, strict=True))
        try:
            row = {name: parse_value(name, cells[name], dialect) for name in AD_FIELDS}
        except ValueError as exc:
            rejected.append((line, raw_lines[line - 1], str(exc)))
            continue
        day = row["date"]
        if as_of is not None and last_day is not None and isinstance(day, dt.date) and day > last_day:
            rejected.append((line, raw_lines[line - 1], future_reason("date", as_of)))
            continue
        row["_line_number"] = line
        rows.append(row)
    return rows, rejected


def load_ads(
    con: duckdb.DuckDBPyConnection, ads_dir: Path, *, as_of: dt.datetime | None
) -> tuple[list[Batch], list[str]]:
    ensure_raw_table(con, RAW_TABLE, {**AD_FIELDS, "_line_number": "BIGINT"})
    if not ads_dir.exists():
        return [], []
    batches, errors = [], []
    for file in new_files(con, ads_dir, "*.csv", SOURCE, as_of):
        batch = Batch(SOURCE, watermark_before=None, watermark_after=file.relative, as_of=as_of)
        try:
            rows, rejected = parse_drop(file, as_of=as_of)
        except LifecycleError as exc:
            errors.append(str(exc))
            log_failure(con, SOURCE, str(exc), as_of)
            continue
        with transaction(con):
            if rows:
                frame = pd.DataFrame(rows)
                con.register("_drop", frame)
                columns = ", ".join(f'"{c}"' for c in [*AD_FIELDS, "_line_number"])
                casts = ", ".join(f'cast("{c}" as {t})' for c, t in AD_FIELDS.items())
                con.execute(
                    f"insert into raw.{RAW_TABLE} ({columns}, _batch_id, _ingested_at, _source_file) "
                    f"select {casts}, _line_number, ?, ?, ? from _drop",
                    [batch.batch_id, utc_now(), file.relative],
                )
                con.unregister("_drop")
            for line, raw, reason in rejected:
                con.execute(
                    "insert into raw._quarantine values (?, ?, ?, ?, ?, ?, ?)",
                    [SOURCE, batch.batch_id, file.relative, line, raw, reason, utc_now()],
                )
            batch.rows_read = len(rows) + len(rejected)
            batch.rows_loaded = len(rows)
            batch.rows_quarantined = len(rejected)
            record_loaded(con, SOURCE, [file], batch.batch_id)
            batch.log(con, "success")
        batches.append(batch)
    return batches, errors
