"""One writer per data directory: commands that change it hold an exclusive lock on ``state/lock``.

DuckDB allows one writing process per file, but a run touches several files in turn (sources, warehouse,
publication); two runs interleaving their stages could publish a build the other one audited. The lock is
``flock`` on a file, so the kernel releases it when the holder exits, even on ``kill -9``: a stale lock
cannot outlive its process. It is re-entrant within a process (``lifecycle run`` holds it while calling
the stages, which take it too).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from lifecycle.config import Settings
from lifecycle.errors import LifecycleError

#: Seconds a command waits for another to finish before giving up (``LIFECYCLE_LOCK_WAIT_SECONDS``).
DEFAULT_WAIT_SECONDS = 0.0

_held: dict[str, int] = {}


class Busy(LifecycleError):
    """Another process holds the data directory; transient: retrying later is the remedy."""

    exit_code = 75  # EX_TEMPFAIL


@contextmanager
def exclusive(settings: Settings, command: str, *, wait_seconds: float | None = None) -> Iterator[None]:
    """Hold the data directory's lock for ``command``; Busy (naming the holder) if it stays taken."""
    path = settings.state_dir / "lock"
    key = str(path)
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    if wait_seconds is None:
        wait_seconds = float(os.environ.get("LIFECYCLE_LOCK_WAIT_SECONDS", DEFAULT_WAIT_SECONDS))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 500, 0).decode(errors="replace").strip() or "another process"
                    raise Busy(
                        f"{settings.data_dir} is in use by {holder}; wait for it to finish (or set "
                        "LIFECYCLE_LOCK_WAIT_SECONDS to wait) — nothing was changed"
                    ) from None
                time.sleep(0.2)
        started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"`lifecycle {command}` (pid {os.getpid()}, since {started})".encode(), 0)
        _held[key] = 1
        try:
            yield
        finally:
            del _held[key]
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing the descriptor releases the lock
