"""Configuration, read once from environment variables with documented defaults.

Every path the pipeline writes lives under one data directory (``LIFECYCLE_DATA_DIR``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: The repository root: dbt_project.yml, expectations/ and analyses/ live here.
PROJECT_DIR = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    project_dir: Path = PROJECT_DIR
    dbt_target: str = "dev"
    #: Where Spark (dbt target ``spark``) keeps its managed tables; None: ``spark/warehouse`` here.
    spark_warehouse: Path | None = None

    @property
    def sources_dir(self) -> Path:
        return self.data_dir / "sources"

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def analytics_path(self) -> Path:
        return self.data_dir / "analytics.duckdb"

    @property
    def exports_dir(self) -> Path:
        return self.data_dir / "exports"

    @property
    def site_dir(self) -> Path:
        return self.data_dir / "site"

    @property
    def publications_dir(self) -> Path:
        """Every publication in a folder of its own; ``current`` links to the one analysts see."""
        return self.data_dir / "publications"

    @property
    def last_publication_path(self) -> Path:
        """The current publication's record (a link into ``publications/current``)."""
        return self.state_dir / "last_publication.json"

    @property
    def build_state_dir(self) -> Path:
        """dbt artifacts of the latest ``dbt build``: what a publication of that build keeps."""
        return self.state_dir / "build"

    @property
    def production_state_dir(self) -> Path:
        """dbt artifacts (manifest.json, run_results.json) of the last published build: the production
        state that pull-request checks compare against (`dbt --state`)."""
        return self.state_dir / "production"

    @property
    def dbt_target_dir(self) -> Path:
        return self.state_dir / "dbt-target"

    @property
    def dbt_log_dir(self) -> Path:
        return self.state_dir / "dbt-logs"

    @property
    def lake_dir(self) -> Path:
        """Raw batches as Parquet (``raw/<table>/<batch_id>.parquet``) for engines other than DuckDB."""
        return self.data_dir / "lake"

    @property
    def spark_warehouse_dir(self) -> Path:
        """Spark's managed Parquet tables, one folder per table (``<schema>.db/<table>``); profiles.yml."""
        return self.spark_warehouse or self.data_dir / "spark" / "warehouse"

    @property
    def state_dir(self) -> Path:
        """Pipeline bookkeeping: dbt artifacts of the last published build, GE context, run reports."""
        return self.data_dir / "state"


def load_settings() -> Settings:
    """Read settings from the environment (see README, "Configuration")."""
    data_dir = Path(os.environ.get("LIFECYCLE_DATA_DIR", "data")).resolve()
    spark_warehouse = os.environ.get("LIFECYCLE_SPARK_WAREHOUSE")
    return Settings(
        data_dir=data_dir,
        dbt_target=os.environ.get("LIFECYCLE_DBT_TARGET", "dev"),
        spark_warehouse=Path(spark_warehouse).resolve() if spark_warehouse else None,
    )
