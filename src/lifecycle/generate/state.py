"""The simulator's own memory of the world, persisted between runs under ``sources/_state/``.

Continuing a world and computing the ground truth both read this state, never the emitted files, so
ad-hoc edits of the sources cannot change what the truth says. Tables are column arrays where row
``i`` is the entity with id ``i + 1``; they are saved as ``.npy`` members of a zip with fixed timestamps
so the same world always gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lifecycle.errors import InputError
from lifecycle.generate.params import DefectRates
from lifecycle.storage import write_atomic

STATE_DIR = "_state"
FORMAT_VERSION = 1
EPOCH = dt.date(1970, 1, 1)
DAY_SECONDS = 86_400
#: Number of versions the ads partner reports for one day: the first drop plus three restatements.
AD_VERSIONS = 4

#: Column dtypes of the entity tables. Timestamps are UTC seconds since 1970; -1 means "never".
SCHEMAS: dict[str, dict[str, type]] = {
    "customers": {
        "created_ts": np.int64,
        "deleted_kind": np.int8,  # 0 live, 1 soft-deleted (deleted_at set), 2 erased (row deleted)
        "deleted_ts": np.int64,
        "weight": np.float64,  # propensity to come back and order
        "first_name": np.int16,
        "last_name": np.int16,
        "country": np.int8,
        "anon_hi": np.uint64,  # the browser cookie (anonymous_id) of the device they signed up on
        "anon_lo": np.uint64,
        "address_id": np.int64,  # current default address
    },
    "products": {
        "category": np.int16,
        "price_cents": np.int64,
        "is_active": np.bool_,
        "weight": np.float64,  # popularity
    },
    "orders": {
        "customer": np.int64,  # customer index (id - 1)
        "placed_ts": np.int64,
        "gross_cents": np.int64,
        "discount_cents": np.int64,
        "method": np.int8,
        # the whole future of an order is decided when it is placed, so runs can be split anywhere
        "fail_ts": np.int64,
        "pay_ts": np.int64,
        "cancel_ts": np.int64,
        "ship_ts": np.int64,
        "deliver_ts": np.int64,
        "return_ts": np.int64,
    },
}


def day_start(day: dt.date) -> int:
    """UTC seconds since 1970 at midnight starting ``day``."""
    return (day - EPOCH).days * DAY_SECONDS


def format_ts(ts: np.ndarray) -> list[str]:
    """'YYYY-MM-DD HH:MM:SS' for an array of epoch seconds (the app database's timestamp format)."""
    text = np.datetime_as_string(np.asarray(ts, dtype=np.int64).astype("datetime64[s]"), unit="s")
    return [t.replace("T", " ") for t in text.tolist()]


def empty_table(name: str) -> dict[str, np.ndarray]:
    return {col: np.zeros(0, dtype=dtype) for col, dtype in SCHEMAS[name].items()}


def append_rows(table: dict[str, np.ndarray], **columns: np.ndarray) -> None:
    """Append rows given as equally long column arrays (every column of the table must be given)."""
    missing = set(table) ^ set(columns)
    if missing:
        raise ValueError(f"append_rows: columns {sorted(missing)} missing or unknown")
    for col, values in columns.items():
        table[col] = np.concatenate([table[col], np.asarray(values, dtype=table[col].dtype)])


@dataclass
class State:
    """Everything a continued run needs, plus the ledger the ground truth is computed from."""

    seed: int
    scale: float
    clean: bool
    defects: DefectRates
    first_day: dt.date
    #: the last complete day
    last_day: dt.date | None = None
    #: when the day after ``last_day`` (or the first day) has been generated up to this instant (UTC
    #: seconds since 1970) and is continued by the next run; None when every generated day is complete
    partial_until: int | None = None
    counters: dict[str, int] = field(
        default_factory=lambda: {"address_id": 0, "order_item_id": 0, "payment_id": 0}
    )
    defect_counts: dict[str, int] = field(default_factory=dict)
    customers: dict[str, np.ndarray] = field(default_factory=lambda: empty_table("customers"))
    products: dict[str, np.ndarray] = field(default_factory=lambda: empty_table("products"))
    orders: dict[str, np.ndarray] = field(default_factory=lambda: empty_table("orders"))
    #: per generated day (index = days since first_day): human sessions started that day
    human_sessions: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    #: per generated day, campaign, report version (0 = first drop .. 3 = final) and metric
    #: (impressions, clicks, spend in cents)
    ads: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, AD_VERSIONS, 3), dtype=np.int64))

    def params(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "scale": self.scale,
            "clean": self.clean,
            "defect_rates": self.defects.to_dict(),
        }

    def next_id(self, counter: str) -> int:
        self.counters[counter] += 1
        return self.counters[counter]

    def count_defect(self, name: str, n: int) -> None:
        self.defect_counts[name] = self.defect_counts.get(name, 0) + int(n)

    @property
    def clock(self) -> dt.datetime | None:
        """The world's simulated now: the instant everything in the sources happened by (None: no day)."""
        if self.partial_until is not None:
            return dt.datetime(1970, 1, 1) + dt.timedelta(seconds=self.partial_until)
        if self.last_day is None:
            return None
        return dt.datetime.combine(self.last_day, dt.time(23, 59, 59))

    @property
    def day_index(self) -> int:
        """Number of days generated so far (the index the next day gets in the ledgers)."""
        return len(self.human_sessions)


def save_state(state: State, sources_dir: Path) -> None:
    """Write the state atomically (temp file + rename), so an interrupted save leaves the old one."""
    folder = sources_dir / STATE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    until = state.partial_until
    meta = {
        "format": FORMAT_VERSION,
        "params": state.params(),
        "first_day": state.first_day.isoformat(),
        "last_day": state.last_day.isoformat() if state.last_day else None,
        "partial_until": None if until is None else format_ts(np.array([until]))[0],
        "counters": state.counters,
        "defect_counts": dict(sorted(state.defect_counts.items())),
    }
    arrays: dict[str, np.ndarray] = {"human_sessions": state.human_sessions, "ads": state.ads}
    for table in ("customers", "products", "orders"):
        arrays.update({f"{table}.{col}": values for col, values in getattr(state, table).items()})
    write_atomic(folder / "tables.npz", _npz_bytes(arrays))
    write_atomic(folder / "state.json", json.dumps(meta, indent=2) + "\n")


def load_state(sources_dir: Path) -> State | None:
    """The saved state, or None when the folder holds no generated world yet."""
    folder = sources_dir / STATE_DIR
    if not (folder / "state.json").exists():
        return None
    meta = json.loads((folder / "state.json").read_text())
    if meta.get("format") != FORMAT_VERSION:
        raise InputError(
            f"{folder / 'state.json'}: state format {meta.get('format')} is not {FORMAT_VERSION}; "
            "delete the sources folder and generate again"
        )
    params = meta["params"]
    state = State(
        seed=int(params["seed"]),
        scale=float(params["scale"]),
        clean=bool(params["clean"]),
        defects=DefectRates.from_dict(params["defect_rates"]),
        first_day=dt.date.fromisoformat(meta["first_day"]),
        last_day=dt.date.fromisoformat(meta["last_day"]) if meta["last_day"] else None,
        partial_until=_epoch_seconds(meta.get("partial_until")),
        counters={k: int(v) for k, v in meta["counters"].items()},
        defect_counts={k: int(v) for k, v in meta["defect_counts"].items()},
    )
    with np.load(folder / "tables.npz", allow_pickle=False) as npz:
        state.human_sessions = npz["human_sessions"]
        state.ads = npz["ads"]
        for table in ("customers", "products", "orders"):
            setattr(state, table, {col: npz[f"{table}.{col}"] for col in SCHEMAS[table]})
    return state


def _epoch_seconds(text: str | None) -> int | None:
    if text is None:
        return None
    return int((dt.datetime.fromisoformat(text) - dt.datetime(1970, 1, 1)).total_seconds())


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """np.savez, but with fixed member timestamps so equal states give equal bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            zf.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), member.getvalue())
    return buffer.getvalue()
