"""The clickstream: the day's sessions as gzipped NDJSON, filed by arrival hour, with delivery defects.

Files: ``events/date=YYYY-MM-DD/hour=HH/events-<generation day YYYYMMDD>-<nnnn>.json.gz``, where the
folder is the hour an event *arrived*. A day's late events and re-deliveries go into later folders
under the generating day's file name, so continuing the world never overwrites a file. Every file is
byte-deterministic (gzip with mtime 0 and no embedded name).
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lifecycle.generate import vocab
from lifecycle.generate.ads import CAMPAIGNS
from lifecycle.generate.params import DefectRates
from lifecycle.generate.sessions import (
    EVENT_TYPE_NAMES,
    HOUR_MS,
    LANDINGS,
    LAST_SESSION_END_MS,
    EventType,
    Kind,
    Sessions,
    group_starts,
    random_u64,
)
from lifecycle.generate.state import day_start

SITE = {"web": "https://shop.example.com", "ios": "app://shop", "android": "app://shop"}
PAGES = (
    "/",
    "/sale",
    "/new-arrivals",
    "/help/shipping",
    *tuple("/c/" + "-".join(c.lower().replace("&", "and").split()) for c in vocab.CATEGORIES),
)
MAX_LINES_PER_FILE = 10_000
BOT_EVENTS = (6, 13)  # events per bot session: at least 6, fewer than 13
BOT_GAP_MS = (1_000, 3_001)

#: Where the files of an arrival hour go, given the end of that hour (epoch milliseconds): the folder
#: under which their ``date=…/hour=…`` path is made, or None when they are not to be written now.
Placement = Callable[[int], Path | None]


@dataclass
class Delivery:
    """What was written for one generated day, and the defects injected on the way."""

    lines: int = 0
    files: int = 0
    defects: dict[str, int] = field(default_factory=dict)


def plan_bots(
    rng: np.random.Generator, day: dt.date, human_sessions: int, orderable: np.ndarray, rates: DefectRates
) -> Sessions:
    """Crawlers and scrapers: bursts of page and product views 1-3 s apart, never a cart, never a login.

    Honest ones announce themselves in the user agent; disguised ones send a desktop browser's.
    """
    share = rates.bot_session_share
    n = int(rng.poisson(human_sessions * share / (1.0 - share))) if share > 0 else 0
    disguised = rng.random(n) < rates.disguised_bot_share
    n_events = rng.integers(*BOT_EVENTS, size=n)
    total = int(n_events.sum())
    ev_session = np.repeat(np.arange(n), n_events)
    first = group_starts(n_events)
    pos = np.arange(total) - first[ev_session]
    ev_type = np.where(
        (pos > 0) & (rng.random(total) < 0.6), EventType.PRODUCT_VIEW, EventType.PAGE_VIEW
    ).astype(np.int8)
    product = orderable[rng.integers(0, len(orderable), total)]
    gaps = rng.integers(*BOT_GAP_MS, size=total)
    gaps[first] = 0
    cumulative = np.cumsum(gaps)
    offsets = cumulative - cumulative[first][ev_session]
    duration = offsets[first + n_events - 1]
    start = np.floor(rng.random(n) * (LAST_SESSION_END_MS - duration)).astype(np.int64)
    n_agents = np.where(disguised, len(vocab.USER_AGENTS[0]), len(vocab.BOT_USER_AGENTS))
    return Sessions(
        kind=np.where(disguised, Kind.BOT_DISGUISED, Kind.BOT_HONEST).astype(np.int8),
        customer=np.full(n, -1, dtype=np.int64),
        anon_hi=random_u64(rng, n),
        anon_lo=random_u64(rng, n),
        combo=np.zeros(n, dtype=np.int8),
        user_agent=np.floor(rng.random(n) * n_agents).astype(np.int64),
        screen=rng.integers(0, len(vocab.SCREENS[0]), n),
        country=rng.integers(0, len(vocab.COUNTRIES), n).astype(np.int8),
        ip=rng.integers(16_777_216, 3_758_096_383, size=n, dtype=np.int64),
        app_version=np.zeros(n, dtype=np.int64),
        landing=np.zeros(n, dtype=np.int8),
        login_pos=np.full(n, -1, dtype=np.int64),
        order=np.full(n, -1, dtype=np.int64),
        ev_session=ev_session,
        ev_type=ev_type,
        ev_ms=day_start(day) * 1000 + start[ev_session] + offsets,
        ev_product=np.where(ev_type == EventType.PRODUCT_VIEW, product, -1).astype(np.int64),
        ev_term=np.full(total, -1, dtype=np.int16),
        ev_hi=random_u64(rng, total),
        ev_lo=random_u64(rng, total),
    )


def uuid_strings(hi: np.ndarray, lo: np.ndarray) -> list[str]:
    """Version-4-shaped UUID text from random halves (deterministic, unlike uuid.uuid4)."""
    hi = (hi & np.uint64(0xFFFF_FFFF_FFFF_0FFF)) | np.uint64(0x4000)
    lo = (lo & np.uint64(0x3FFF_FFFF_FFFF_FFFF)) | np.uint64(0x8000_0000_0000_0000)
    out = []
    for h, low in zip(hi.tolist(), lo.tolist(), strict=True):
        s = f"{h:016x}{low:016x}"
        out.append(f"{s[:8]}-{s[8:12]}-{s[12:16]}-{s[16:20]}-{s[20:]}")
    return out


def serialize(sessions: Sessions, *, schema_v2: bool) -> list[str]:
    """One JSON line per event, keys in a fixed order, nulls explicit."""
    anon = uuid_strings(sessions.anon_hi, sessions.anon_lo)
    event_ids = uuid_strings(sessions.ev_hi, sessions.ev_lo)
    times = [
        t + "Z" for t in np.datetime_as_string(sessions.ev_ms.astype("datetime64[ms]"), unit="ms").tolist()
    ]
    first = sessions.first_event().tolist()

    per_session = []
    for s, (kind, customer, combo, agent, screen, country, ip, version, landing) in enumerate(
        zip(
            sessions.kind.tolist(),
            sessions.customer.tolist(),
            sessions.combo.tolist(),
            sessions.user_agent.tolist(),
            sessions.screen.tolist(),
            sessions.country.tolist(),
            sessions.ip.tolist(),
            sessions.app_version.tolist(),
            sessions.landing.tolist(),
            strict=True,
        )
    ):
        device, platform = vocab.DEVICE_PLATFORMS[combo]
        app_version = f"5.{version // 10}.{version % 10}" if platform != "web" else None
        if kind == Kind.BOT_HONEST:
            user_agent = vocab.BOT_USER_AGENTS[agent]
        else:
            user_agent = vocab.USER_AGENTS[combo][agent].replace("{version}", app_version or "")
        width, height = vocab.SCREENS[combo][screen]
        context = {
            "ip": f"{ip >> 24}.{ip >> 16 & 255}.{ip >> 8 & 255}.{ip & 255}",
            "locale": vocab.LOCALES[country],
            "screen": {"width": width, "height": height},
        }
        source, medium, campaign = LANDINGS[landing]
        utm = (source, medium, None if campaign < 0 else CAMPAIGNS[campaign].campaign_id)
        per_session.append(
            (
                anon[s],
                None if customer < 0 else customer + 1,
                user_agent,
                device,
                platform,
                app_version,
                context,
                utm,
            )
        )

    order_of = sessions.order.tolist()
    login_of = sessions.login_pos.tolist()
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    lines = []
    for e, (s, etype, product, term, lo) in enumerate(
        zip(
            sessions.ev_session.tolist(),
            sessions.ev_type.tolist(),
            sessions.ev_product.tolist(),
            sessions.ev_term.tolist(),
            sessions.ev_lo.tolist(),
            strict=True,
        )
    ):
        anonymous_id, customer_id, user_agent, device, platform, app_version, context, utm = per_session[s]
        pos = e - first[s]
        login = login_of[s]
        if etype == EventType.PAGE_VIEW:
            path = "/" if pos == 0 else PAGES[lo % len(PAGES)]
        elif etype == EventType.PRODUCT_VIEW:
            path = f"/p/{product + 1}"
        elif etype == EventType.SEARCH:
            path = "/search?q=" + vocab.SEARCH_TERMS[term].replace(" ", "+")
        else:
            path = ("/cart", "/checkout", "/checkout/confirmation")[etype - EventType.ADD_TO_CART]
        record: dict[str, object] = {
            "event_id": event_ids[e],
            "event_type": EVENT_TYPE_NAMES[etype],
            "event_time": times[e],
            "anonymous_id": anonymous_id,
            "customer_id": customer_id if 0 <= login <= pos else None,
            "user_agent": user_agent,
        }
        if schema_v2:
            record["device_type"] = device
            record["app_version"] = app_version
        else:
            record["device"] = device
        record["platform"] = platform
        record["page_url"] = SITE[platform] + path
        record["product_id"] = product + 1 if product >= 0 else None
        record["order_id"] = order_of[s] + 1 if etype == EventType.ORDER_PLACED else None
        landing = pos == 0
        record["utm_source"] = utm[0] if landing else None
        record["utm_medium"] = utm[1] if landing else None
        record["utm_campaign"] = utm[2] if landing else None
        record["context"] = context
        lines.append(dumps(record))
    return lines


def deliver(
    events_dir: Path,
    generation_day: dt.date,
    sessions: Sessions,
    lines: list[str],
    rng: np.random.Generator | None,
    rates: DefectRates,
    place: Placement | None = None,
) -> Delivery:
    """File the lines by arrival hour; with ``rng`` (a dirty world), inject the delivery defects.

    ``place`` decides per arrival hour where its files go (default: ``events_dir``, every hour).
    """
    defects: dict[str, int] = {}
    if rng is None:  # clean: every event arrives when it happens
        arrival, texts = sessions.ev_ms, lines
    else:
        arrival, texts, defects = plan_deliveries(sessions, lines, rng, rates)
    # a stable sort: at equal times, originals before copies and events in session order
    order = np.argsort(arrival, kind="stable")
    result = write_files(
        events_dir, generation_day, arrival[order], [texts[i] for i in order.tolist()], rng, rates, place
    )
    result.defects = {**defects, **result.defects}
    return result


def plan_deliveries(
    sessions: Sessions, lines: list[str], rng: np.random.Generator, rates: DefectRates
) -> tuple[np.ndarray, list[str], dict[str, int]]:
    """Arrival time of every delivered line: late mobile events, re-deliveries and corrupted copies."""
    n = len(lines)
    arrival = sessions.ev_ms.copy()
    is_mobile = np.array([device == "mobile" for device, _ in vocab.DEVICE_PLATFORMS])
    late = is_mobile[sessions.combo[sessions.ev_session]] & (rng.random(n) < rates.late_mobile_rate)
    hours_late = rng.integers(2, max(3, rates.late_max_hours), n)
    late_arrival = (arrival // HOUR_MS + hours_late) * HOUR_MS + rng.integers(0, HOUR_MS, n)
    arrival = np.where(late, late_arrival, arrival)
    duplicate = rng.random(n) < rates.duplicate_rate
    duplicate_arrival = arrival + rng.integers(1_000, 2 * HOUR_MS, n)
    malformed = rng.random(n) < rates.malformed_rate
    malformed_arrival = arrival + rng.integers(0, 600_000, n)
    cut = rng.random(n)
    garbage = rng.random(n) < 0.5
    broken = []
    for e in np.flatnonzero(malformed).tolist():
        line = lines[e]
        if garbage[e]:
            broken.append(line + '}\x1b[0m"garbage')
        else:  # any proper prefix of a JSON object is invalid JSON
            broken.append(line[: 1 + int(cut[e] * (len(line) - 2))])
    texts = lines + [lines[e] for e in np.flatnonzero(duplicate).tolist()] + broken
    arrival = np.concatenate([arrival, duplicate_arrival[duplicate], malformed_arrival[malformed]])
    defects = {
        "late_events": int(late.sum()),
        "duplicate_events": int(duplicate.sum()),
        "malformed_lines": len(broken),
    }
    return arrival, texts, defects


def write_files(
    events_dir: Path,
    generation_day: dt.date,
    arrival: np.ndarray,
    texts: list[str],
    rng: np.random.Generator | None,
    rates: DefectRates,
    place: Placement | None = None,
) -> Delivery:
    """Write lines (sorted by arrival) into their arrival-hour folders; shuffle a few when dirty.

    Every file is made, so the random streams advance the same whatever ``place`` writes; the counts
    are of the lines and files written.
    """
    result = Delivery()
    hours = arrival // HOUR_MS
    cuts = np.flatnonzero(np.diff(hours)) + 1
    starts, stops = np.concatenate([[0], cuts]).tolist(), np.concatenate([cuts, [len(hours)]]).tolist()
    stamp = generation_day.strftime("%Y%m%d")
    reordered = 0
    for start, stop in zip(starts, stops, strict=True):
        if start == stop:
            continue
        hour_start = dt.datetime.fromtimestamp(int(hours[start]) * 3600, dt.UTC)
        root = events_dir if place is None else place((int(hours[start]) + 1) * HOUR_MS)
        folder = None if root is None else root / f"date={hour_start:%Y-%m-%d}" / f"hour={hour_start:%H}"
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        for number, chunk_start in enumerate(range(start, stop, MAX_LINES_PER_FILE)):
            chunk = texts[chunk_start : min(stop, chunk_start + MAX_LINES_PER_FILE)]
            if rng is not None and rates.out_of_order_rate > 0:
                picked = np.flatnonzero(rng.random(len(chunk)) < rates.out_of_order_rate)
                shuffled = rng.permutation(picked)
                moved = [chunk[i] for i in shuffled.tolist()]
                for target, text in zip(picked.tolist(), moved, strict=True):
                    chunk[target] = text
                reordered += int((picked != shuffled).sum())
            if folder is None:
                continue
            write_gzip(folder / f"events-{stamp}-{number:04d}.json.gz", "".join(t + "\n" for t in chunk))
            result.files += 1
            result.lines += len(chunk)
    if rng is not None:
        result.defects["out_of_order_events"] = reordered
    return result


def write_gzip(path: Path, text: str) -> None:
    """Gzip with no name and mtime 0 in the header: equal content gives equal bytes."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=6) as handle:
        handle.write(text.encode("utf-8"))
    path.write_bytes(buffer.getvalue())
