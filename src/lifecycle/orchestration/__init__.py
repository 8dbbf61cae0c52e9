"""The lifecycle on Dagster: the stages as assets, the gates as blocking asset checks, daily partitions,
a 06:00 UTC schedule, an arrival sensor and retries (docs/orchestration.md).

``defs`` is the code location (``dagster definitions validate -m lifecycle.orchestration``). It is built on
first access, because building it parses the dbt project: importing a helper module costs nothing.
"""

from __future__ import annotations

from functools import cache
from typing import Any

__all__ = ["defs"]


@cache
def _definitions() -> Any:
    from lifecycle.orchestration.definitions import build_definitions

    return build_definitions()


def __getattr__(name: str) -> Any:
    if name == "defs":
        return _definitions()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "defs"])
