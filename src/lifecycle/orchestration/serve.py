"""``make orchestrate``: the Dagster UI and daemon for this data directory, on 127.0.0.1, until Ctrl-C.

The instance lives in ``$LIFECYCLE_DATA_DIR/dagster`` (``DAGSTER_HOME``): run history, schedules, sensor
cursors and backfills belong to the data they describe. Its ``dagster.yaml`` turns telemetry off and lets
one run execute at a time, first queued first: one writer per data directory, and a backfill's days in
date order.

The webserver and the daemon run as child processes in process groups of their own; Ctrl-C or SIGTERM
reaches this process and is passed on to each group (their code servers included). A shell script that
starts ``make orchestrate &`` hands its children SIGINT set to "ignore", which Python and Dagster would
keep: the children get the default dispositions back before they start, and so does this process.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from lifecycle.config import Settings, load_settings

MODULE = "lifecycle.orchestration"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3000
#: Seconds a child gets to stop after SIGINT, then after SIGTERM, before it is killed.
GRACE_SECONDS = (20.0, 5.0)

INSTANCE_YAML = """\
# Written by `make orchestrate` (lifecycle.orchestration.serve) at every start: edit that module instead.
telemetry:
  enabled: false
# One run at a time, first queued first: one writer per data directory, and a backfill's days in order.
run_queue:
  max_concurrent_runs: 1
"""


def dagster_home(settings: Settings) -> Path:
    return settings.data_dir / "dagster"


def prepare_instance(settings: Settings) -> Path:
    """Create ``DAGSTER_HOME`` under the data directory with the instance settings above, and its storage.

    The storage is created here, once: the webserver and the daemon starting together would each create
    (and migrate) a new one at the same moment, and one of them would fail to load the code location.
    """
    from dagster import DagsterInstance

    home = dagster_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(INSTANCE_YAML)
    with DagsterInstance.from_config(str(home)) as instance:
        instance.get_runs(limit=1)
        instance.all_instigator_state()
        instance.get_backfills()
    return home


def commands(host: str, port: int) -> list[list[str]]:
    """The daemon (schedules, sensors, run queue, backfills) and the webserver, from this venv."""
    bin_dir = Path(sys.executable).parent
    return [
        [str(bin_dir / "dagster-daemon"), "run", "-m", MODULE],
        [str(bin_dir / "dagster-webserver"), "-h", host, "-p", str(port), "-m", MODULE],
    ]


def serve(settings: Settings, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> int:
    home = prepare_instance(settings)
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "LIFECYCLE_DATA_DIR": str(settings.data_dir),
        # dbt and the dagster commands of this venv, whichever shell started us.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    _default_signals()
    signal.signal(signal.SIGTERM, _interrupt)
    children: list[subprocess.Popen[bytes]] = []
    try:
        for command in commands(host, port):
            children.append(
                subprocess.Popen(
                    command,
                    env=env,
                    cwd=settings.project_dir,
                    start_new_session=True,
                    preexec_fn=_default_signals,
                )
            )
        print(
            f"Dagster UI on http://{host}:{port}/ (DAGSTER_HOME={home}); Ctrl-C stops it.",
            flush=True,
        )
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        for child, command in zip(children, commands(host, port), strict=True):
            if child.returncode not in (None, 0):
                print(f"error: {Path(command[0]).name} exited with {child.returncode}", file=sys.stderr)
                return 1
        return 0
    except KeyboardInterrupt:
        print("stopping the Dagster UI and daemon ...", flush=True)
        return 0
    finally:
        stop(children)


def stop(children: Sequence[subprocess.Popen[bytes]]) -> None:
    """SIGINT to each child's process group, then SIGTERM, then SIGKILL, each after a grace period."""
    for sig, grace in ((signal.SIGINT, GRACE_SECONDS[0]), (signal.SIGTERM, GRACE_SECONDS[1])):
        running = [c for c in children if c.poll() is None]
        for child in running:
            _signal_group(child, sig)
        deadline = time.monotonic() + grace
        for child in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
    for child in children:
        if child.poll() is None:
            _signal_group(child, signal.SIGKILL)
            child.wait()


def _signal_group(child: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, sig)


def _default_signals() -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lifecycle.orchestration",
        description="The Dagster UI and daemon for $LIFECYCLE_DATA_DIR (docs/orchestration.md).",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"default {DEFAULT_HOST} (this machine only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    return serve(load_settings(), args.host, args.port)
