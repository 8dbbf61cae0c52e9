"""The PII salt's one store: a file in the data directory's state folder, readable by its owner only.

dbt never sees the salt as text: the ``hash_pii`` macro makes DuckDB read this file when the query runs
(``read_text``), so compiled SQL, manifests, run results, logs and the docs site hold its path, never its
value. ``LIFECYCLE_PII_SALT`` seeds the store the first time; afterwards it must match, because a
different salt would silently change every hash already published.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from lifecycle.config import Settings
from lifecycle.errors import LifecycleError

#: Below this many characters a salt is too easy to guess to protect hashed e-mail addresses.
MIN_SALT_LENGTH = 16


def salt_path(settings: Settings) -> Path:
    """Where ``macros/hash_pii.sql`` reads the salt (the same path, derived from LIFECYCLE_DATA_DIR)."""
    return settings.state_dir / "pii_salt"


def ensure_salt(settings: Settings) -> Path:
    """Create the salt store if missing (from LIFECYCLE_PII_SALT, else random) and check it; its path."""
    path = salt_path(settings)
    given = os.environ.get("LIFECYCLE_PII_SALT", "").strip()
    if given and len(given) < MIN_SALT_LENGTH:
        raise LifecycleError(
            f"LIFECYCLE_PII_SALT is shorter than {MIN_SALT_LENGTH} characters: use a longer one"
        )
    private_dir(path.parent)
    if not path.exists():
        _write_private(path, given or secrets.token_hex(32))
    stored = path.read_text().strip()
    if len(stored) < MIN_SALT_LENGTH:
        raise LifecycleError(
            f"{path} holds no usable PII salt (under {MIN_SALT_LENGTH} characters): restore it from your "
            "secret store, or delete it and set LIFECYCLE_PII_SALT (every hash then changes: run "
            "`lifecycle transform --full-refresh`)"
        )
    if given and not hmac.compare_digest(given, stored):
        raise LifecycleError(
            f"LIFECYCLE_PII_SALT differs from the salt the hashes in this data directory were made with "
            f"({path}); unset it to keep using the stored one, or replace the file deliberately and run "
            "`lifecycle transform --full-refresh`"
        )
    path.chmod(0o600)
    return path


def private_dir(path: Path) -> Path:
    """Create ``path`` (if needed) readable by its owner only."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def _write_private(path: Path, text: str) -> None:
    # Created with mode 0600 from the start: no moment in which another user could read it.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
