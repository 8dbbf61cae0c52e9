"""The audit window: which data the gates judge as new.

New data is what came after the instant the current publication is current at (its as-of), whatever the
calendar says: a run with ``--as-of`` in the middle or at the end of a day has that partial day judged too.
With nothing published yet (or a replay of an earlier as-of), the window starts at the beginning of the
day before the as-of, so a first run judges its newest complete day and whatever followed it.
"""

from __future__ import annotations

import datetime as dt
import json

from lifecycle.config import Settings


def audit_since(settings: Settings, as_of: dt.datetime) -> dt.datetime:
    """The exclusive lower bound of event times the gates judge as new data at ``as_of``."""
    fallback = dt.datetime.combine(as_of.date() - dt.timedelta(days=1), dt.time())
    path = settings.last_publication_path
    if not path.exists():
        return fallback
    published = json.loads(path.read_text()).get("as_of")
    if not published:
        return fallback
    since = dt.datetime.fromisoformat(published)
    return since if since < as_of else fallback
