"""No false alarms: a 30-day world, clean and with the default defect rates, run day by day as an operator
would replay it (`lifecycle run --no-generate --no-docs --as-of DAY`), never fails a gate.

Slow (60 runs of the whole lifecycle): `make test-soak`, which CI runs after `make test`.
"""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest

from lifecycle.config import Settings
from lifecycle.generate import generate
from lifecycle.pipeline import run

pytestmark = pytest.mark.soak

START = dt.date(2026, 4, 1)
DAYS = 30
#: The demo world's scale (`make run`).
SCALE = 0.05


@pytest.mark.parametrize("clean", [True, False], ids=["clean", "default defects"])
def test_a_month_run_day_by_day_never_fails_a_gate(tmp_path, clean: bool):
    settings = Settings(data_dir=tmp_path)
    generate(settings.sources_dir, seed=11, scale=SCALE, start=START, days=DAYS, clean=clean)
    seconds = []
    for offset in range(DAYS):
        day = START + dt.timedelta(days=offset)
        began = time.perf_counter()
        # A bare date is the end of that day (`--as-of DAY`): every day is judged while it is the newest.
        as_of = dt.datetime.combine(day, dt.time(23, 59, 59))
        # A failed gate raises GateFailed. The docs site is not a gate: built once, after the last day.
        run(settings, as_of=as_of, world=None, progress=lambda _: None, docs=offset == DAYS - 1)
        seconds.append(time.perf_counter() - began)
        assert json.loads(settings.last_publication_path.read_text())["as_of"] == as_of.isoformat()
    print(f"{DAYS} daily runs: {sum(seconds):.0f} s, {max(seconds):.1f} s at most")
