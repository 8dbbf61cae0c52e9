"""The ads partner: daily CSV drops of spend per campaign, in the partner's own dialect.

Dialect (kept even with ``clean``, it is the partner's format, not a defect): UTF-8 with BOM, ``;`` as
delimiter, decimal comma in ``spend``, campaign names quoted when they contain ``;`` or ``"``, CRLF.
Each drop restates the previous three days: the row for day X in the drop of day X + k is report
version k, and version 3 is final. The one defect: from ``ads_column_change_after_days`` on, the
partner reorders its columns (headers stay correct).
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lifecycle.generate.state import AD_VERSIONS, State


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    name: str
    channel: str
    utm_source: str
    utm_medium: str
    share: float  # share of paid landings that come through this campaign
    ctr: float  # clicks per impression
    cpc_cents: int  # average cost per click


#: Append only: the state stores campaign positions.
CAMPAIGNS: tuple[Campaign, ...] = (
    # campaign_id, campaign_name, channel, utm_source, utm_medium, share, ctr, cpc_cents
    Campaign("gs_brand_001", "Google Search; Brand", "paid_search", "google", "cpc", 0.30, 0.06, 35),
    Campaign(
        "gs_generic_002",
        "Google Search; Generic – Shoes & Bags",
        "paid_search",
        "google",
        "cpc",
        0.20,
        0.025,
        85,
    ),
    Campaign("bing_brand_003", "Bing; Brand", "paid_search", "bing", "cpc", 0.07, 0.05, 30),
    Campaign(
        "fb_prospecting_004",
        'Facebook; Prospecting "Spring"',
        "paid_social",
        "facebook",
        "paid_social",
        0.18,
        0.012,
        55,
    ),
    Campaign(
        "ig_retargeting_005",
        "Instagram; Retargeting",
        "paid_social",
        "instagram",
        "paid_social",
        0.12,
        0.015,
        45,
    ),
    Campaign("criteo_display_006", "Display – Awareness", "display", "criteo", "display", 0.13, 0.002, 25),
)

IMPRESSIONS, CLICKS, SPEND = 0, 1, 2
COLUMNS = ("date", "channel", "campaign_id", "campaign_name", "impressions", "clicks", "spend")
#: The order the partner switches to at the column-change date.
COLUMNS_CHANGED = ("date", "campaign_id", "campaign_name", "channel", "spend", "clicks", "impressions")


def plan_metrics(rng: np.random.Generator, landings: np.ndarray) -> np.ndarray:
    """All report versions of one day: array (campaign, version, metric), version 3 final.

    ``landings`` counts the human sessions that landed through each campaign; the partner counts more
    clicks than sessions (people who bounce before the page loads).
    """
    n = len(CAMPAIGNS)
    ctr = np.array([c.ctr for c in CAMPAIGNS])
    cpc = np.array([c.cpc_cents for c in CAMPAIGNS], dtype=np.float64)
    clicks = landings + rng.poisson(0.25 * landings + 1.0)
    impressions = np.rint(clicks / ctr * rng.lognormal(0.0, 0.1, n)).astype(np.int64) + rng.poisson(50.0, n)
    spend = np.rint(clicks * cpc * rng.lognormal(0.0, 0.15, n)).astype(np.int64)
    final = np.stack([impressions, clicks, spend], axis=1).astype(np.int64)
    versions = np.empty((n, AD_VERSIONS, 3), dtype=np.int64)
    versions[:, AD_VERSIONS - 1] = final
    for k in range(AD_VERSIONS - 1):
        # earlier reports undercount a little; the gap closes with each restatement
        shortfall = rng.uniform(0.0, 0.02 * (AD_VERSIONS - 1 - k), size=(n, 3))
        versions[:, k] = np.rint(final * (1.0 - shortfall)).astype(np.int64)
    return versions


def final_version(state: State, day_index: int) -> int:
    """The latest report version of a day that has been dropped so far."""
    return min(AD_VERSIONS - 1, len(state.ads) - 1 - day_index)


def write_drop(state: State, day: dt.date, ads_dir: Path) -> tuple[Path, int, bool]:
    """Write the drop of ``day`` (rows for day-3 .. day) from the state; return path, rows, reordered."""
    today = (day - state.first_day).days
    reordered = not state.clean and (day - state.first_day).days >= state.defects.ads_column_change_after_days
    columns = COLUMNS_CHANGED if reordered else COLUMNS
    rows: list[dict[str, str]] = []
    for index in range(max(0, today - (AD_VERSIONS - 1)), today + 1):
        version = today - index
        date_text = (state.first_day + dt.timedelta(days=index)).isoformat()
        for c, campaign in enumerate(CAMPAIGNS):
            impressions, clicks, spend = (int(v) for v in state.ads[index, c, version])
            rows.append(
                {
                    "date": date_text,
                    "channel": campaign.channel,
                    "campaign_id": campaign.campaign_id,
                    "campaign_name": campaign.name,
                    "impressions": str(impressions),
                    "clicks": str(clicks),
                    "spend": f"{spend // 100},{spend % 100:02d}",
                }
            )
    ads_dir.mkdir(parents=True, exist_ok=True)
    path = ads_dir / f"ad_spend_{day.isoformat()}.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, delimiter=";", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
        writer.writerow(columns)
        writer.writerows([row[col] for col in columns] for row in rows)
    return path, len(rows), reordered
