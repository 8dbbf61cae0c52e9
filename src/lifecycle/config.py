"""Configuration, read once from environment variables with documented defaults.

Every path the pipeline writes lives under one data directory (``LIFECYCLE_DATA_DIR``).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: The repository root: dbt_project.yml, expectations/ and analyses/ live here.
PROJECT_DIR = Path(__file__).resolve().parents[2]
#: libyaml's safe loader where PyYAML was built with it (several times faster than the pure-Python one: the
#: project's YAML is read by several stages of every run), else the pure-Python one.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> Any:
    """A YAML file of the project, parsed safely (an empty file is None)."""
    return yaml.load(path.read_text(), Loader=_YAML_LOADER)


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    project_dir: Path = PROJECT_DIR
    dbt_target: str = "dev"
    #: Slack-compatible webhook for alerts (``LIFECYCLE_ALERT_WEBHOOK_URL``); None: the outbox only.
    alert_webhook_url: str | None = None
    #: Where the docs site is served, for links in alerts (``LIFECYCLE_SITE_URL``); None: the local files.
    site_url: str | None = None
    #: Whether OpenLineage events go where the client's own configuration says (``OPENLINEAGE_URL`` or
    #: ``OPENLINEAGE_CONFIG`` set) instead of the default file, ``lineage/events.jsonl``.
    lineage_from_environment: bool = False
    #: ``postgresql://…``: the shop database lives in PostgreSQL and is ingested from a replication slot;
    #: None keeps the embedded SQLite database (``sources/app.sqlite``).
    app_database_url: str | None = None
    #: The logical replication slot (wal2json) the app source is read from.
    replication_slot: str = "lifecycle_app"
    #: WAL a slot may hold back before it is reported as falling behind (bytes). 1 GiB: a day of the
    #: shop's changes is a few megabytes, so this is weeks of missed runs, and far below a disk's size.
    slot_retained_wal_limit: int = 1 << 30
    #: The local PostgreSQL cluster of ``make postgres``.
    postgres_port: int = 54329
    postgres_dir_override: Path | None = None
    #: Raw data, quarantined lines and stored test failures older than this are deleted by each run.
    retention_days: int = 400
    #: Days the warehouse file may keep what erasure and retention removed in its free blocks (no query
    #: reads them) before the file is rewritten: a rewrite copies the whole warehouse, so doing it once per
    #: period keeps a day's run from costing the warehouse's size. 0: on every run that removed something.
    purge_days: int = 7
    #: Days between rewrites of the warehouse file that compact it: dbt builds without DuckDB's vacuum
    #: (``max_vacuum_tasks`` 0 in profiles.yml), so the rows incremental models delete stay in their row
    #: groups until the file is rewritten (docs/performance.md, ``day_growth``). A purge rewrite counts.
    compact_days: int = 7
    #: Third-party CSS/JS that the Data Docs pages load, fetched from npm by `make` into the virtual
    #: environment (lifecycle.quality.data_docs_assets).
    web_assets_dir: Path = Path(sys.prefix) / "web-assets"
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
    def alerts_outbox_path(self) -> Path:
        """Every alert sent, one JSON object a line, whatever else it was routed to."""
        return self.data_dir / "alerts" / "outbox.jsonl"

    @property
    def lineage_path(self) -> Path:
        """OpenLineage events of every stage (the default file transport)."""
        return self.data_dir / "lineage" / "events.jsonl"

    @property
    def postgres_dir(self) -> Path:
        """The local PostgreSQL cluster (``make postgres``): its data, socket directory and log."""
        return self.postgres_dir_override or self.data_dir / "postgres"

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
    postgres_dir = os.environ.get("LIFECYCLE_POSTGRES_DIR")
    assets = os.environ.get("LIFECYCLE_WEB_ASSETS_DIR")
    spark_warehouse = os.environ.get("LIFECYCLE_SPARK_WAREHOUSE")
    retention = os.environ.get("LIFECYCLE_RETENTION_DAYS", "400")
    if not retention.isdigit() or int(retention) < 1:
        raise ValueError(
            f"LIFECYCLE_RETENTION_DAYS={retention!r}: expected a whole number of days, at least 1"
        )
    purge = os.environ.get("LIFECYCLE_PURGE_DAYS", "7")
    if not purge.isdigit():
        raise ValueError(f"LIFECYCLE_PURGE_DAYS={purge!r}: expected a whole number of days, 0 or more")
    compact = os.environ.get("LIFECYCLE_COMPACT_DAYS", "7")
    if not compact.isdigit() or int(compact) < 1:
        raise ValueError(f"LIFECYCLE_COMPACT_DAYS={compact!r}: expected a whole number of days, at least 1")
    return Settings(
        data_dir=data_dir,
        dbt_target=os.environ.get("LIFECYCLE_DBT_TARGET", "dev"),
        alert_webhook_url=os.environ.get("LIFECYCLE_ALERT_WEBHOOK_URL") or None,
        site_url=os.environ.get("LIFECYCLE_SITE_URL") or None,
        lineage_from_environment=bool(
            os.environ.get("OPENLINEAGE_URL") or os.environ.get("OPENLINEAGE_CONFIG")
        ),
        app_database_url=os.environ.get("LIFECYCLE_APP_DATABASE_URL") or None,
        replication_slot=os.environ.get("LIFECYCLE_REPLICATION_SLOT", "lifecycle_app"),
        slot_retained_wal_limit=int(os.environ.get("LIFECYCLE_SLOT_RETAINED_WAL_LIMIT", 1 << 30)),
        postgres_port=int(os.environ.get("LIFECYCLE_POSTGRES_PORT", "54329")),
        postgres_dir_override=Path(postgres_dir).resolve() if postgres_dir else None,
        retention_days=int(retention),
        purge_days=int(purge),
        compact_days=int(compact),
        spark_warehouse=Path(spark_warehouse).resolve() if spark_warehouse else None,
        **({"web_assets_dir": Path(assets).resolve()} if assets else {}),
    )
