"""Pull-request checks (``lifecycle ci-pr``, ``make ci-pr``): what a change would do to production.

pre-commit on the changed files; ``dbt build --select state:modified+`` into
``$LIFECYCLE_DATA_DIR/ci/pr.duckdb`` with unchanged parents deferred to production (read-only); Great
Expectations on the rebuilt marts; a data diff of each rebuilt mart against production.
See docs/pull-requests.md.
"""

from lifecycle.ci.pr import PullRequestCheck, check_pull_request

__all__ = ["PullRequestCheck", "check_pull_request"]
