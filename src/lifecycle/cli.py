"""The ``lifecycle`` command: one subcommand per lifecycle stage. Parses arguments and calls the stage."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from lifecycle.config import Settings, load_settings
from lifecycle.errors import LifecycleError


def _as_of(text: str | None) -> dt.datetime:
    """``--as-of``: a date or ISO timestamp (UTC); a bare date means the end of that day."""
    if text is None:
        return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"--as-of {text!r}: expected YYYY-MM-DD or an ISO timestamp"
        ) from exc
    if len(text) == 10:
        value = value.replace(hour=23, minute=59, second=59)
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


def _manual_run_id() -> str:
    """The run id of a stage run on its own (``lifecycle run`` makes its own)."""
    return f"manual-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}"


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from exc


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lifecycle",
        description="The retailer's data platform: generate, ingest, transform, validate, publish, docs.",
        epilog="Data lives under $LIFECYCLE_DATA_DIR (default ./data). See README.md.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_, description=help_)

    def as_of_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--as-of", help="the 'now' that freshness is judged against (default: current UTC time)"
        )

    def accept_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--accept-restatement",
            nargs="+",
            type=_date,
            default=[],
            metavar="DAY",
            help="publish restated figures of these settled days (an operator's decision, recorded)",
        )

    gen = add("generate", "Simulate the three source systems (deterministic; continue a world with --start).")
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument(
        "--scale", type=float, default=1.0, help="1 = about 1M events and 100k orders per 90 days"
    )
    gen.add_argument("--start", type=_date, required=True, help="first simulated day (YYYY-MM-DD)")
    gen.add_argument("--days", type=int, default=1)
    gen.add_argument("--clean", action="store_true", help="turn every source defect off")

    ing = add("ingest", "Land new source data into the raw schema (incremental; bad input is quarantined).")
    as_of_option(ing)
    ing.add_argument(
        "--full-refresh", action="store_true", help="snapshot the application database (recovery)"
    )

    tra = add("transform", "dbt build: seeds, snapshots, models and their tests.")
    as_of_option(tra)
    tra.add_argument("--select", nargs="*", default=[], help="dbt selection (default: everything)")
    tra.add_argument("--full-refresh", action="store_true", help="rebuild incremental models from scratch")
    tra.add_argument(
        "--unit-tests",
        action="store_true",
        help="also run dbt unit tests (CI does; production runs skip them: their inputs are fixed)",
    )

    val = add("validate", "Run the Great Expectations checkpoints; exits 2 when a critical check fails.")
    as_of_option(val)
    accept_option(val)

    add(
        "publish",
        "Publish the audited marts (analytics.duckdb, exports, CRM export) all or nothing; refuses a build "
        "that has not passed every gate.",
    )

    era = add(
        "erase",
        "Record a right-to-erasure request; the next `lifecycle run` removes or redacts that person's "
        "personal data everywhere in the data directory (the customer key stays, so revenue is unchanged).",
    )
    era.add_argument("--customer-id", type=int, required=True, help="the customer's key in the shop")
    era.add_argument("--reason", required=True, help="why: a ticket number or legal basis (no personal data)")

    doc = add("docs", "Build the static docs site under $LIFECYCLE_DATA_DIR/site.")
    as_of_option(doc)
    doc.add_argument("--serve", action="store_true", help="serve the site on localhost afterwards")
    doc.add_argument("--port", type=int, default=8080)

    run = add("run", "Every stage in order; stops at the first failed gate, keeping the last publication.")
    as_of_option(run)
    run.add_argument(
        "--seed", type=int, help="seed of a new world (default 42; an existing world keeps its own)"
    )
    run.add_argument(
        "--scale", type=float, help="scale of a new world (default 0.05; an existing world keeps its own)"
    )
    run.add_argument("--days", type=int, default=30, help="days of history when the world is first created")
    run.add_argument("--no-generate", action="store_true", help="use the sources already present")
    run.add_argument(
        "--no-docs", action="store_true", help="skip the docs site (when replaying many days one by one)"
    )
    accept_option(run)

    sta = add(
        "status",
        "The last run, each source's freshness against its SLA, and open incidents; exits 3 when a source "
        "breaches its SLA (for cron and monitoring).",
    )
    as_of_option(sta)

    pg = add(
        "postgres",
        "A local PostgreSQL cluster for the shop database under $LIFECYCLE_DATA_DIR/postgres (127.0.0.1, "
        "$LIFECYCLE_POSTGRES_PORT); `start` prints the LIFECYCLE_APP_DATABASE_URL to set.",
    )
    pg.add_argument("action", choices=["start", "stop"])

    spk = add(
        "spark-check",
        "Build the project on Spark (dbt target spark) from the Parquet lake and compare every mart with "
        "the DuckDB build's; exits non-zero when one differs. docs/scale-out.md",
    )
    spk.add_argument("--as-of", help="as-of of the Spark build: that of the DuckDB build it is compared with")
    spk.add_argument("--no-build", action="store_true", help="compare the marts of the last Spark build")

    pr = add(
        "ci-pr",
        "Pull-request check: pre-commit on changed files, dbt build of modified models (unchanged parents "
        "from production) into ci/pr.duckdb, GE on rebuilt marts, data diff against production.",
    )
    pr.add_argument(
        "--base", help="branch the change merges into (default: $LIFECYCLE_PR_BASE, origin/main, main)"
    )
    pr.add_argument("--no-pre-commit", action="store_true", help="skip pre-commit on the changed files")
    pr.add_argument("--as-of", help="as-of of the PR build (default: that of the published production run)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = load_settings()
    try:
        return _dispatch(args, settings)
    except LifecycleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug or an environment problem: one line here, the traceback in a file
        from lifecycle.storage import write_atomic

        log = settings.state_dir / "last_error.log"
        write_atomic(log, traceback.format_exc())
        print(f"error: unexpected {type(exc).__name__}: {exc} (traceback: {log})", file=sys.stderr)
        return 1


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from lifecycle.lock import exclusive

    if args.command == "status":  # only reads, and must answer while a run holds the lock
        from lifecycle.observability.status import read_status

        status = read_status(settings, _as_of(args.as_of))
        print(status.to_text())
        return status.exit_code
    with exclusive(settings, args.command):
        code = _run_command(args, settings)
    if args.command == "docs" and args.serve:  # serving only reads the site: no lock held meanwhile
        from lifecycle.docs import serve

        serve(settings, args.port)
    return code


def _run_command(args: argparse.Namespace, settings: Settings) -> int:
    as_of = _as_of(getattr(args, "as_of", None))
    if args.command == "ci-pr":
        from lifecycle.ci import check_pull_request
        from lifecycle.ci.pr import report_path
        from lifecycle.errors import GateFailed

        check = check_pull_request(
            settings,
            base=args.base,
            pre_commit=not args.no_pre_commit,
            as_of=as_of if args.as_of else None,
        )
        print(check.to_markdown())
        print(f"report: {report_path(settings)}")
        if not check.passed:
            raise GateFailed("pull-request check failed: " + "; ".join(check.problems))
    elif args.command == "spark-check":
        from lifecycle.transform.spark import check_spark

        check_spark(settings, as_of=as_of if args.as_of else None, build=not args.no_build, progress=print)
    elif args.command == "generate":
        from lifecycle.generate import generate

        summary = generate(
            settings.sources_dir,
            seed=args.seed,
            scale=args.scale,
            start=args.start,
            days=args.days,
            clean=args.clean,
            progress=print,
            app_database_url=settings.app_database_url,
            replication_slot=settings.replication_slot,
        )
        print(summary)
    elif args.command == "postgres":
        from lifecycle.generate import pg_cluster

        cluster = pg_cluster.Cluster(settings.postgres_dir, settings.postgres_port)
        if args.action == "start":
            print(f"export LIFECYCLE_APP_DATABASE_URL={pg_cluster.start(cluster)}")
        else:
            pg_cluster.stop(cluster)
            print(f"stopped the cluster in {cluster.data}")
    elif args.command == "ingest":
        from lifecycle.ingest import ingest, raise_for_errors

        raise_for_errors(ingest(settings, as_of=as_of, full_refresh=args.full_refresh, progress=print))
    elif args.command == "transform":
        from lifecycle.transform import transform

        transform(
            settings,
            as_of=as_of,
            select=args.select,
            full_refresh=args.full_refresh,
            unit_tests=args.unit_tests,
            run_id=_manual_run_id(),
        )
    elif args.command == "validate":
        from lifecycle.quality.gates import audit_build
        from lifecycle.quality.restatements import accept

        if args.accept_restatement:
            accept(settings, args.accept_restatement)
        audit_build(settings, as_of=as_of, run_id=_manual_run_id(), progress=print)
    elif args.command == "publish":
        from lifecycle.publish import publish

        publication = publish(settings, progress=print)
        print(
            f"published {len(publication.tables)} tables of run {publication.run_id} to {publication.path}"
            f" (publication {publication.publication_id},"
            f" {len(publication.reused)} unchanged tables taken over)"
        )
    elif args.command == "erase":
        from lifecycle.privacy.requests import record_request

        now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
        new = record_request(settings, args.customer_id, args.reason, now=now)
        print(
            f"erasure of customer {args.customer_id} "
            + ("recorded" if new else "was already recorded")
            + ": the next `lifecycle run` applies it to every store"
        )
    elif args.command == "docs":
        from lifecycle.docs import build_docs

        print(f"docs site: {build_docs(settings, as_of=as_of)}")
    elif args.command == "run":
        from lifecycle.pipeline import DemoWorld, run

        world = None if args.no_generate else DemoWorld(seed=args.seed, scale=args.scale, days=args.days)
        report = run(
            settings,
            as_of=as_of,
            world=world,
            accept_restatements=args.accept_restatement,
            docs=not args.no_docs,
        )
        print(report.to_markdown())
        _print_where(settings)
    return 0


def _print_where(settings: Settings) -> None:
    path = settings.analytics_path
    rel = os.path.relpath(path) if path.is_relative_to(Path.cwd()) else str(path)
    print(
        "\nDone.\n"
        f"  analyst database: {settings.analytics_path}\n"
        f"  docs site:        {settings.site_dir / 'index.html'}\n"
        "  try:\n"
        f"    .venv/bin/python -c \"import duckdb; print(duckdb.connect('{rel}', read_only=True)"
        ".sql('select * from fct_revenue_daily order by date_day desc limit 7'))\""
    )


if __name__ == "__main__":
    sys.exit(main())
