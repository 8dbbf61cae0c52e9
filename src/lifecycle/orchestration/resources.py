"""The one resource the assets share: the data directory (and dbt target) the lifecycle's stages work on."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from dagster import ConfigurableResource

from lifecycle.config import Settings, load_settings


class LifecycleResource(ConfigurableResource):  # type: ignore[type-arg]
    """Where the stages read and write; unset fields come from ``LIFECYCLE_DATA_DIR`` and
    ``LIFECYCLE_DBT_TARGET``, and every other setting from the environment, when a run starts (README,
    "Configuration")."""

    data_dir: str | None = None
    dbt_target: str | None = None

    def settings(self) -> Settings:
        configured = load_settings()
        # Everything else (the shop database's URL and slot, alert routing, …) as the environment says.
        return dataclasses.replace(
            configured,
            data_dir=Path(self.data_dir).resolve() if self.data_dir else configured.data_dir,
            dbt_target=self.dbt_target or configured.dbt_target,
        )
