"""Privacy across the data directory: erasure requests that reach every copy of a person's data, retention
of raw data, and the classification of personal-data columns (``meta: {pii: …}`` in the dbt YAML).

``apply_privacy`` is the stage ``lifecycle run`` calls after ingestion: it applies every erasure request
(from the source's deletes and from ``lifecycle erase``) to every store in ``stores.STORES``, deletes raw
data older than the retention period, and rewrites the warehouse so freed blocks keep nothing.
"""

from lifecycle.privacy.stage import PrivacyReport, apply_privacy

__all__ = ["PrivacyReport", "apply_privacy"]
