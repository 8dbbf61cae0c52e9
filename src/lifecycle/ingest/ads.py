"""Ad-platform drops: semicolon CSVs with a decimal comma and a BOM, landed into ``raw.ads_spend``.

The partner's dialect is declared here, not sniffed. Columns are mapped by header name, so a reordered
file loads the same. Every drop lands whole as a new version (``_source_file``); restatements of earlier
days are resolved downstream (latest drop wins), never by overwriting raw rows.
The files are tiny (a few hundred rows), so Python's csv module reads them: it gives exact line numbers
for the quarantine, which DuckDB's CSV reader does not expose.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

import duckdb
import pandas as pd

from lifecycle.errors import LifecycleError
from lifecycle.ingest.files import SourceFile, new_files, record_loaded
from lifecycle.ingest.landing import Batch, ensure_raw_table, log_failure, transaction, utc_now
from lifecycle.ingest.schemas import AD_FIELDS

SOURCE = "ads"
RAW_TABLE = "ads_spend"


@dataclass(frozen=True)
class Dialect:
    delimiter: str = ";"
    quotechar: str = '"'
    decimal: str = ","
    encoding: str = "utf-8-sig"  # utf-8 with an optional byte-order mark


PARTNER_DIALECT = Dialect()


def parse_value(name: str, text: str, dialect: Dialect = PARTNER_DIALECT) -> object:
    """One cell to its declared type; raises ValueError naming the field."""
    kind = AD_FIELDS[name]
    text = text.strip()
    if text == "":
        return None
    try:
        if kind == "DATE":
            return dt.date.fromisoformat(text)
        if kind == "BIGINT":
            return int(text)
        if kind.startswith("DECIMAL"):
            if dialect.decimal != "." and "." in text:
                raise ValueError(
                    f"{name}={text!r} uses '.', but the partner's decimal mark is {dialect.decimal!r}"
                )
            return Decimal(text.replace(dialect.decimal, ".")).quantize(Decimal("0.01"))
    except (ValueError, InvalidOperation) as exc:
        raise ValueError(f"{name}={text!r} is not {kind}") from exc
    return text


def parse_drop(
    file: SourceFile, dialect: Dialect = PARTNER_DIALECT
) -> tuple[list[dict], list[tuple[int, str, str]]]:
    """Rows of one drop by header name, and (line number, raw text, reason) of rows that cannot load."""
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
        batch = Batch(SOURCE, watermark_before=None, watermark_after=file.relative)
        try:
            rows, rejected = parse_drop(file)
        except LifecycleError as exc:
            errors.append(str(exc))
            log_failure(con, SOURCE, str(exc))
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
