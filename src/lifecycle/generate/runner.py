"""``generate``: create or continue the simulated world, one day at a time, and describe what was written.

Each day draws from its own random streams, seeded by (seed, day, stream), and starts from the state the
previous day left, so a world is the same whether it was generated in one run or day by day.

``until`` stops the world's clock at an instant of its last day: the sources then hold nothing stamped
later. The day is planned whole (a plan needs the whole day's draws) but written only up to ``until``;
the next run plans it again from the same state and streams, replays what was written and writes the
rest, so a day generated in pieces equals the day generated at once. Event files of finished days that
arrive after ``until`` wait in ``_state/pending/`` until a run's clock passes their hour.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lifecycle.errors import InputError
from lifecycle.generate import ads, clickstream, ground_truth, pg_writer, planning, schema, writer
from lifecycle.generate.params import VOLUMES, DefectRates
from lifecycle.generate.sessions import LANDING_CAMPAIGN, Kind, Sessions, plan_visits
from lifecycle.generate.state import (
    DAY_SECONDS,
    EPOCH,
    STATE_DIR,
    State,
    day_start,
    format_ts,
    load_state,
    save_state,
)

APP_DB = "app.sqlite"
EVENTS_DIR = "events"
ADS_DIR = "ads"
#: Event files of finished days whose arrival hour ends after the clock, waiting to be released.
PENDING_DIR = f"{STATE_DIR}/pending"

# Independent random streams per day: the business (accounts, catalog, visits) never depends on the
# defect stream, so a clean and a dirty world with the same seed have the same orders and sessions.
BOOTSTRAP, WORLD, VISITS, ADS, DEFECTS = range(5)


@dataclass
class GenerationSummary:
    """What one call of ``generate`` did."""

    sources_dir: Path
    first_day: dt.date  # the world's first day
    last_day: dt.date  # the last day generated so far (maybe only up to ``until``)
    days_generated: int  # in this call (0 when the requested range already existed)
    rows: dict[str, int] = field(
        default_factory=dict
    )  # written in this call: app (change_log rows), events (lines), ads (rows)
    ground_truth_path: Path | None = None
    manifest_path: Path | None = None
    seconds: float = 0.0
    until: dt.datetime | None = None  # where the world's clock stopped on its last day (None: its end)

    def __str__(self) -> str:
        rows = ", ".join(f"{k} {v:,}" for k, v in self.rows.items())
        last = f"{self.last_day}" if self.until is None else f"{self.until:%Y-%m-%d %H:%M:%S}"
        return (
            f"generated {self.days_generated} day(s); world {self.first_day}..{last}; rows: {rows}; "
            f"{self.seconds:.1f} s; ground truth {self.ground_truth_path}"
        )


def generate(
    sources_dir: Path,
    *,
    seed: int = 42,
    scale: float = 1.0,
    start: dt.date,
    days: int,
    clean: bool = False,
    progress: Callable[[str], None] | None = None,
    defects: DefectRates | None = None,
    until: dt.datetime | None = None,
    app_database_url: str | None = None,
    replication_slot: str | None = None,
) -> GenerationSummary:
    """Generate ``days`` days from ``start`` into ``sources_dir``, creating or continuing its world.

    ``start`` must be the world's next day, or lie within the days already generated (those are kept,
    only days after the last one are generated: same arguments twice is a no-op). Seed, scale, clean and
    defect rates must match the world's. ``until`` (UTC, to the second; on the last requested day) stops
    the world's clock there: the sources hold nothing stamped later, and a later call continues the day.
    ``app_database_url`` (``postgresql://…``): each day is also written to that PostgreSQL database
    (``pg_writer``), whose replication slot ``replication_slot`` is created with its tables.
    """
    began = time.perf_counter()
    sources_dir = Path(sources_dir)
    rates = defects or DefectRates()
    if days < 1:
        raise InputError(f"days must be at least 1, got {days}")
    if not scale > 0:
        raise InputError(f"scale must be positive, got {scale}")
    last_asked = start + dt.timedelta(days=days - 1)
    clock = None if until is None else _epoch_seconds(until)
    if clock is not None and not day_start(last_asked) <= clock < day_start(last_asked) + DAY_SECONDS:
        raise InputError(f"until {until} is not on the last requested day, {last_asked}")
    say = progress or (lambda _message: None)

    state = load_state(sources_dir)
    if state is None:
        leftovers = sorted(p.name for p in sources_dir.iterdir()) if sources_dir.exists() else []
        if leftovers:
            raise InputError(
                f"{sources_dir} holds {', '.join(leftovers[:5])} but no simulator state "
                f"({STATE_DIR}/state.json): generate into an empty or new folder"
            )
        state = State(seed=seed, scale=float(scale), clean=clean, defects=rates, first_day=start)
    else:
        _check_continuation(state, sources_dir, seed=seed, scale=scale, clean=clean, rates=rates, start=start)

    todo = [start + dt.timedelta(days=i) for i in range(days)]
    todo = [d for d in todo if state.last_day is None or d > state.last_day]
    if todo and clock is not None and state.partial_until is not None and clock <= state.partial_until:
        todo = []  # the world's clock is already at or past ``until`` on its partial day
    summary = GenerationSummary(
        sources_dir=sources_dir,
        first_day=state.first_day,
        last_day=state.last_day or start,
        days_generated=len(todo),
        rows={"app": 0, "events": 0, "ads": 0},
    )

    def copy_to_postgres() -> None:
        if app_database_url:
            pg_writer.sync(app_database_url, sources_dir / APP_DB, slot=replication_slot)

    if not todo:
        copy_to_postgres()  # completes a copy a crash cut short
        say(f"sources already cover {start}..{until or last_asked}; nothing to do")
        if _release_pending(sources_dir, state.partial_until):  # finishes a release a crash cut short
            ground_truth.write_manifest(sources_dir)
        summary.ground_truth_path = sources_dir / ground_truth.GROUND_TRUTH
        summary.manifest_path = sources_dir / ground_truth.MANIFEST
        summary.seconds = time.perf_counter() - began
        return summary

    sources_dir.mkdir(parents=True, exist_ok=True)
    fresh = state.last_day is None and state.partial_until is None
    conn = schema.connect(sources_dir / APP_DB)
    try:
        if fresh:
            schema.create_schema(conn)
        for day in todo:
            day_began = time.perf_counter()
            day_until = clock if day == last_asked else None
            rows = _generate_day(conn, state, day, sources_dir, until=day_until, release=clock)
            copy_to_postgres()
            for source, n in rows.items():
                summary.rows[source] += n
            upto = "" if day_until is None else f" up to {format_ts(np.array([day_until]))[0][11:]}"
            say(
                f"{day}{upto}: {rows['events']:,} event lines, {rows['app']:,} app changes, "
                f"{rows['ads']} ad rows ({time.perf_counter() - day_began:.2f} s)"
            )
    except BaseException:
        conn.close()
        if fresh and load_state(sources_dir) is None:  # the folder was empty: leave it so, not half-made
            for name in (APP_DB, EVENTS_DIR, ADS_DIR, STATE_DIR):
                _remove(sources_dir / name)
        raise
    conn.close()
    _release_pending(sources_dir, state.partial_until)
    summary.last_day = todo[-1]
    summary.until = None if state.partial_until is None else until
    summary.ground_truth_path = ground_truth.write_ground_truth(state, sources_dir, state.partial_until)
    summary.manifest_path = ground_truth.write_manifest(sources_dir)
    summary.seconds = time.perf_counter() - began
    return summary


def _epoch_seconds(moment: dt.datetime) -> int:
    """UTC seconds since 1970 of ``moment`` (naive: UTC), truncated to the second."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return int((moment - dt.datetime.combine(EPOCH, dt.time())).total_seconds())


def _release_pending(sources_dir: Path, clock: int | None) -> bool:
    """Move waiting event files whose arrival hour ended by the world's ``clock`` into the sources.

    Without a clock (every generated day is complete) every waiting file is released.
    """
    pending = sources_dir / PENDING_DIR
    released = False
    for path in sorted(pending.rglob("*.json.gz")) if pending.exists() else []:
        relative = path.relative_to(pending)
        if clock is not None and _hour_end_ms(relative) > clock * 1000:
            continue
        target = sources_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        released = True
    return released


def _hour_end_ms(relative: Path) -> int:
    """End of the arrival hour of an events file, from its ``date=…/hour=…`` folders (epoch ms)."""
    day = dt.date.fromisoformat(relative.parent.parent.name.removeprefix("date="))
    hour = int(relative.parent.name.removeprefix("hour="))
    return (day_start(day) + (hour + 1) * 3600) * 1000


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _check_continuation(
    state: State,
    sources_dir: Path,
    *,
    seed: int,
    scale: float,
    clean: bool,
    rates: DefectRates,
    start: dt.date,
) -> None:
    """Refuse, naming the problem, anything but continuing or repeating the world in the folder."""
    asked = {"seed": seed, "scale": float(scale), "clean": clean, "defect_rates": rates.to_dict()}
    have = state.params()
    different = [f"{k}={asked[k]!r} (world has {have[k]!r})" for k in asked if asked[k] != have[k]]
    if different:
        raise InputError(f"{sources_dir}: cannot continue this world with {', '.join(different)}")
    last = state.last_day
    if last is None and state.partial_until is None:
        return
    if last is None:
        if start != state.first_day:
            raise InputError(
                f"{sources_dir}: start {start} is not the world's first day ({state.first_day}), "
                "which is generated only in part"
            )
    elif start < state.first_day or start > last + dt.timedelta(days=1):
        raise InputError(
            f"{sources_dir}: start {start} is neither the world's next day ({last + dt.timedelta(days=1)}) "
            f"nor within the days already generated ({state.first_day}..{last})"
        )
    if not (sources_dir / APP_DB).exists():
        raise InputError(f"{sources_dir / APP_DB} is missing; delete the folder and generate the world again")
    conn = schema.connect(sources_dir / APP_DB)
    try:
        clock = schema.read_clock(conn)
    except sqlite3.Error as exc:
        raise InputError(f"{sources_dir / APP_DB}: cannot read the simulated clock ({exc})") from exc
    finally:
        conn.close()
    expected = f"{state.clock:%Y-%m-%d %H:%M:%S}"
    if clock != expected:
        raise InputError(
            f"{sources_dir / APP_DB}: its clock says {clock} but the simulator state ends at {expected} "
            "(an interrupted run?); delete the folder and generate the world again"
        )


def _rng(state: State, day: dt.date, stream: int) -> np.random.Generator:
    return np.random.default_rng([state.seed, day.toordinal(), stream])


def _generate_day(
    conn: sqlite3.Connection,
    state: State,
    day: dt.date,
    sources_dir: Path,
    *,
    until: int | None = None,
    release: int | None = None,
) -> dict[str, int]:
    """Plan, write and record one day; commit the database, then save the state.

    ``until`` (epoch seconds): write the day only up to that instant; the saved state stays at the end of
    the day before, marked with ``until``, and the in-memory ``state`` holds the day as far as it went
    (for the ground truth). A day an earlier run wrote up to ``state.partial_until`` is planned again
    from that same state and its beginning replayed. ``release``: event files of the day that arrive
    later wait in the pending folder (None: every file is released).
    """
    written = state.partial_until
    before_day = copy.deepcopy(state) if until is not None else None
    before = conn.execute("select coalesce(max(change_id), 0) from change_log").fetchone()[0]
    conn.execute("begin")
    try:
        if state.last_day is None:
            database = conn if written is None else writer.REPLAY
            beginning = planning.plan_bootstrap(_rng(state, day, BOOTSTRAP), state, VOLUMES)
            writer.write_bootstrap(database, state, beginning)
        world_rng = _rng(state, day, WORLD)
        changes = planning.plan_changes(world_rng, state, day, VOLUMES)
        visits = plan_visits(
            _rng(state, day, VISITS),
            state,
            day,
            volumes=VOLUMES,
            unavailable=changes.unavailable,
            orderable=changes.orderable,
        )
        profiles = planning.plan_profiles(world_rng, visits.signups.country, day_start(day))
        writer.write_day(conn, state, day, changes, visits, profiles, written=written, until=until)
        place = _placement(sources_dir, written=written, until=until, release=release)
        event_lines = _write_events(state, day, visits.sessions, changes.orderable, sources_dir, place)
        if until is None:
            state.human_sessions = np.append(state.human_sessions, visits.sessions.size).astype(np.int64)
            ad_rows = _write_ads(state, day, visits.sessions, sources_dir / ADS_DIR)
            state.last_day, state.partial_until = day, None
        else:
            # The day's drop reports the whole day, so it is delivered when the day is complete.
            started = visits.sessions.ev_ms[visits.sessions.first_event()]
            so_far = int((started <= until * 1000).sum())
            state.human_sessions = np.append(state.human_sessions, so_far).astype(np.int64)
            ad_rows = 0
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise
    if before_day is None:
        save_state(state, sources_dir)
    else:
        before_day.partial_until = until
        save_state(before_day, sources_dir)
        # The ground truth counts the defects of complete days: a partial day's are planned, not delivered.
        state.defect_counts, state.partial_until = before_day.defect_counts, until
    after = conn.execute("select coalesce(max(change_id), 0) from change_log").fetchone()[0]
    return {"app": after - before, "events": event_lines, "ads": ad_rows}


def _placement(
    sources_dir: Path, *, written: int | None, until: int | None, release: int | None
) -> clickstream.Placement:
    """Where the day's event files of each arrival hour go (see ``clickstream.Placement``).

    Hours that ended by ``written`` were delivered by an earlier run; the rest are delivered now if they
    ended by ``release`` (or there is none). Later hours of a partial day (``until``) are left to the run
    that continues it; later hours of a complete day wait in the pending folder.
    """
    events_dir, pending_dir = sources_dir / EVENTS_DIR, sources_dir / PENDING_DIR / EVENTS_DIR

    def place(hour_end_ms: int) -> Path | None:
        if written is not None and hour_end_ms <= written * 1000:
            return None
        if release is None or hour_end_ms <= release * 1000:
            return events_dir
        return None if until is not None else pending_dir

    return place


def _write_events(
    state: State,
    day: dt.date,
    humans: Sessions,
    orderable: np.ndarray,
    sources_dir: Path,
    place: clickstream.Placement,
) -> int:
    """The day's clickstream: human sessions, plus bots and delivery defects unless the world is clean."""
    sessions = humans
    defect_rng = None if state.clean else _rng(state, day, DEFECTS)
    if defect_rng is not None:
        bots = clickstream.plan_bots(defect_rng, day, humans.size, orderable, state.defects)
        state.count_defect("bot_sessions", bots.size)
        state.count_defect("bot_sessions_disguised", int((bots.kind == Kind.BOT_DISGUISED).sum()))
        state.count_defect("bot_events", len(bots.ev_session))
        sessions = humans.concat(bots)
    schema_v2 = not state.clean and (day - state.first_day).days >= state.defects.schema_change_after_days
    lines = clickstream.serialize(sessions, schema_v2=schema_v2)
    if schema_v2:
        state.count_defect("schema_v2_events", len(lines))
    delivery = clickstream.deliver(
        sources_dir / EVENTS_DIR, day, sessions, lines, defect_rng, state.defects, place
    )
    for name, n in delivery.defects.items():
        state.count_defect(name, n)
    return delivery.lines


def _write_ads(state: State, day: dt.date, humans: Sessions, ads_dir: Path) -> int:
    """Record the day's ad metrics (clicks follow the paid landings) and write the day's drop."""
    campaign = LANDING_CAMPAIGN[humans.landing]
    landings = np.bincount(campaign[campaign >= 0], minlength=len(ads.CAMPAIGNS)).astype(np.int64)
    metrics = ads.plan_metrics(_rng(state, day, ADS), landings)
    so_far = state.ads if state.ads.shape[1] else np.zeros((0, *metrics.shape), dtype=np.int64)
    state.ads = np.concatenate([so_far, metrics[None]]).astype(np.int64)
    _, rows, reordered = ads.write_drop(state, day, ads_dir)
    if reordered:
        state.count_defect("ads_reordered_drops", 1)
    return rows
