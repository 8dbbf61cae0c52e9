"""What the warehouse must find: daily business figures computed from the simulator's own ledger.

The numbers come from the state (what the simulator decided), never from re-reading the emitted files,
so the ground truth is an independent check of ingestion and transformation. Definitions are in
docs/sources.md; money is summed in integer cents and rounded to 2 decimals only when written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from lifecycle.generate.ads import SPEND, final_version
from lifecycle.generate.state import DAY_SECONDS, STATE_DIR, State, day_start, format_ts
from lifecycle.storage import is_unfinished_write, write_atomic

GROUND_TRUTH = "ground_truth.json"
MANIFEST = "manifest.json"
ACTIVE_WINDOW_DAYS = 90


def compute(state: State, clock: int | None = None) -> dict[str, Any]:
    """Ground truth as of the world's clock: ``clock`` (epoch seconds, on the last day of the ledger) or
    the end of the last generated day.

    A day generated up to ``clock`` is in the ledger whole (the simulator plans a day at once), so
    everything is judged by when it happened: orders placed, cancelled, refunded and accounts created or
    deleted by then. Ad spend counts the drops delivered by then; a day's own drop comes at its end.
    """
    n_days = state.day_index
    if n_days == 0:
        raise ValueError("no day has been generated yet: nothing to compute a ground truth for")
    last_day = state.first_day + dt.timedelta(days=n_days - 1)
    first_ts = day_start(state.first_day)
    end_ts = day_start(last_day) + DAY_SECONDS  # exclusive
    limit = end_ts - 1 if clock is None else clock  # inclusive

    def happened(ts: np.ndarray) -> np.ndarray:
        return (ts >= 0) & (ts <= limit)

    def per_day(ts: np.ndarray, values: np.ndarray | None = None) -> np.ndarray:
        index = (ts - first_ts) // DAY_SECONDS
        keep = (index >= 0) & (index < n_days)
        totals = np.zeros(n_days, dtype=np.int64)
        np.add.at(totals, index[keep], 1 if values is None else values[keep])
        return totals

    orders = state.orders
    counted = happened(orders["placed_ts"]) & ~happened(orders["cancel_ts"])
    order_count = per_day(orders["placed_ts"][counted])
    gross = per_day(orders["placed_ts"][counted], orders["gross_cents"][counted])
    discount = per_day(orders["placed_ts"][counted], orders["discount_cents"][counted])
    returned = happened(orders["return_ts"])
    refunds = per_day(
        orders["return_ts"][returned], orders["gross_cents"][returned] - orders["discount_cents"][returned]
    )
    created = state.customers["created_ts"]
    new_customers = per_day(created[happened(created)])
    daily = []
    for i in range(n_days):
        delivered = i < len(state.ads)
        ad_spend = int(state.ads[i, :, final_version(state, i), SPEND].sum()) if delivered else 0
        daily.append(
            {
                "date_day": (state.first_day + dt.timedelta(days=i)).isoformat(),
                "order_count": int(order_count[i]),
                "gross_revenue": _money(gross[i]),
                "discount_amount": _money(discount[i]),
                "refund_amount": _money(refunds[i]),
                "net_revenue": _money(gross[i] - discount[i] - refunds[i]),
                "human_sessions": int(state.human_sessions[i]),
                "new_customers": int(new_customers[i]),
                "ad_spend": _money(ad_spend),
            }
        )

    window_start = end_ts - ACTIVE_WINDOW_DAYS * DAY_SECONDS
    recent = counted & (orders["placed_ts"] >= window_start)
    buyers = np.unique(orders["customer"][recent])
    live = ~happened(state.customers["deleted_ts"][buyers])  # -1: never deleted
    return {
        "params": {
            **state.params(),
            "first_day": state.first_day.isoformat(),
            "last_day": last_day.isoformat(),
            "clock": format_ts(np.array([limit]))[0],
        },
        "daily": daily,
        "active_customers": int(live.sum()),
        "defects": dict(sorted(state.defect_counts.items())),
    }


def _money(cents: np.integer | int) -> float:
    return round(int(cents) / 100, 2)


def write_ground_truth(state: State, sources_dir: Path, clock: int | None = None) -> Path:
    path = sources_dir / GROUND_TRUTH
    truth = compute(state, clock)
    write_atomic(path, json.dumps(truth, indent=2, ensure_ascii=False) + "\n")
    return path


def write_manifest(sources_dir: Path) -> Path:
    """sha256 and size of every source file (not the manifest itself, nor the simulator's private state,
    nor a temporary file a killed write left: the manifest lists what a reader of the sources gets)."""
    files = {}
    for path in sorted(p for p in sources_dir.rglob("*") if p.is_file()):
        relative = path.relative_to(sources_dir).as_posix()
        if relative == MANIFEST or relative.startswith(STATE_DIR + "/") or relative.endswith("-journal"):
            continue
        if is_unfinished_write(path):
            continue
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        files[relative] = {"sha256": digest.hexdigest(), "size": path.stat().st_size}
    path = sources_dir / MANIFEST
    write_atomic(path, json.dumps({"files": files}, indent=2) + "\n")
    return path
