"""``python -m lifecycle.orchestration`` (``make orchestrate``): the Dagster UI and daemon."""

from lifecycle.orchestration.serve import main

raise SystemExit(main())
