# The README's two commands: `make run` and `make test`. Everything installs from requirements.lock.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The Data Docs' CSS/JS (jQuery, Bootstrap, Font Awesome, Vega, …): pinned npm releases fetched once with
# `npm pack` into the venv (list: src/lifecycle/quality/data_docs_assets.py), served from the site at run
# time, so the site needs no network. Needs npm (Debian: apt-get install npm).
WEB_ASSETS := $(VENV)/web-assets/.fetched
INSTALLED := $(STAMP) $(WEB_ASSETS)
PYTHON ?= python3.11
# Lint and test scratch space: never the user's data directory.
SCRATCH := $(shell mktemp -d -u /tmp/lifecycle-lint.XXXXXX)

.PHONY: run test test-fast test-slow test-gates test-privacy test-soak lint fmt pytest browser-deps ci-setup lock bench clean ci-pr orchestrate \
	postgres postgres-stop postgres-deps test-postgres test-spark java-deps

$(STAMP): requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found: install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

$(WEB_ASSETS): $(STAMP) src/lifecycle/quality/data_docs_assets.py
	$(PY) -m lifecycle.quality.data_docs_assets fetch $(VENV)/web-assets
	@touch $(WEB_ASSETS)

run: $(INSTALLED)
	$(BIN)/lifecycle run

test: lint pytest

# Pull-request check against the production in $LIFECYCLE_DATA_DIR (`make run` makes one): pre-commit on the
# changed files, dbt build of state:modified+ into ci/pr.duckdb, GE on rebuilt marts, data diff.
# Report: $LIFECYCLE_DATA_DIR/ci/pr_report.md (docs/pull-requests.md).
ci-pr: $(INSTALLED)
	$(BIN)/lifecycle ci-pr

# ruff, mypy, sqlfluff, and MetricFlow's validation of the semantic layer (semantic models, metrics, saved
# queries; its queries against data run in tests/python/test_e2e.py).
lint: $(INSTALLED)
	$(BIN)/ruff check src tests/python expectations
	$(BIN)/ruff format --check src tests/python expectations
	$(BIN)/mypy  # typecheck: src/, strict ([tool.mypy] in pyproject.toml)
	@mkdir -p $(SCRATCH)/tmp
	LIFECYCLE_DATA_DIR=$(SCRATCH) $(BIN)/sqlfluff lint models analyses snapshots tests/dbt
	@# mf reads the semantic manifest that dbt parse writes into target/ (git-ignored; absent in a fresh clone).
	LIFECYCLE_DATA_DIR=$(SCRATCH) $(BIN)/dbt parse --quiet --project-dir . --profiles-dir .
	LIFECYCLE_DATA_DIR=$(SCRATCH) $(BIN)/mf validate-configs --skip-dw
	@rm -rf $(SCRATCH)

# Headless Chromium for tests/python/test_browser.py (the docs site in a real browser): Debian's packages,
# installed once; the test fails rather than skips without them.
browser-deps:
	command -v chromium >/dev/null && command -v chromedriver >/dev/null \
	|| (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver)

# Suites with targets of their own, left out of `make test`.
OWN_TARGETS := soak or gates or postgres or privacy or spark or slow
# On both cores: each module's tests stay on one worker (module fixtures are whole worlds, built once).
XDIST := -n 2 --dist loadfile

# Unit tests plus the end-to-end run (generate → ingest → dbt build with its tests → GE checkpoints →
# publish → docs) on one shared tiny world (tests/python/conftest.py), read by the e2e, browser and
# pull-request tests. The slowest tests are printed at the end.
pytest: $(INSTALLED) browser-deps
	$(BIN)/pytest -q $(XDIST) --durations=15 -m "not ($(OWN_TARGETS))"

# The inner loop: unit tests only, no whole pipeline run (marker e2e) and no lint.
test-fast: $(INSTALLED)
	$(BIN)/pytest -q $(XDIST) --durations=5 -m "not ($(OWN_TARGETS)) and not e2e and not heavy"

# Whole worlds run several times over (a three-day Dagster backfill, an incremental day against a full
# rebuild, a continued world with concurrent writers, the marts against the simulator's ground truth).
test-slow: $(INSTALLED)
	$(BIN)/pytest -q $(XDIST) --durations=10 -m slow

# The quality gates against injected defects: one whole lifecycle run per case (~20 cases), ~6 min.
test-gates: $(INSTALLED)
	$(BIN)/pytest -q -m gates

# The shop database on PostgreSQL: Debian's server (15) and the wal2json output plugin, installed once.
PG_BIN ?= /usr/lib/postgresql/15/bin
postgres-deps:
	test -x $(PG_BIN)/pg_ctl && test -f $(PG_BIN)/../lib/wal2json.so \
	|| (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 postgresql-15-wal2json)

# A local cluster under $LIFECYCLE_DATA_DIR/postgres on 127.0.0.1:$LIFECYCLE_POSTGRES_PORT (default 54329),
# logical WAL; prints the LIFECYCLE_APP_DATABASE_URL to export. `make postgres-stop` stops it.
postgres: $(INSTALLED) postgres-deps
	$(BIN)/lifecycle postgres start

postgres-stop: $(INSTALLED)
	$(BIN)/lifecycle postgres stop

# The PostgreSQL source end to end (its own cluster in /tmp): SQLite and PostgreSQL worlds give the same
# marts, a kill -9 before the slot confirmation, a dropped slot, drift; ~3 min.
test-postgres: $(INSTALLED) postgres-deps
	$(BIN)/pytest -q -m postgres

# Erasure (from the source and from `lifecycle erase`) and retention across a whole world: two lifecycle
# runs and a byte scan of every file under the data directory, ~6 min.
test-privacy: $(INSTALLED)
	$(BIN)/pytest -q -m privacy

# Java 17 for Spark (dbt target spark, pyspark): Debian's headless OpenJDK, installed once when missing.
java-deps:
	command -v java >/dev/null \
	|| (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless)

# The project on Spark from the Parquet lake at a tiny scale, two days (the second incremental), every mart
# proved equal to DuckDB's and the marts' dbt tests passing on Spark; a few minutes (docs/scale-out.md).
SPARK_VENV ?= .venv-spark
SPARK_STAMP := $(SPARK_VENV)/.installed
$(SPARK_STAMP): requirements.lock requirements-spark.lock pyproject.toml
	@test -x $(SPARK_VENV)/bin/python || $(PYTHON) -m venv $(SPARK_VENV)
	$(SPARK_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.lock -r requirements-spark.lock
	$(SPARK_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(SPARK_STAMP)

test-spark: $(SPARK_STAMP) java-deps
	$(SPARK_VENV)/bin/pytest -q -m spark

# No false alarms: 30-day worlds (clean, default defects) run day by day; ~25 min, so not in `make test`.
test-soak: $(INSTALLED)
	$(BIN)/pytest -q -m soak -s

fmt: $(INSTALLED)
	$(BIN)/ruff format src tests/python expectations
	$(BIN)/ruff check --fix src tests/python expectations
	@mkdir -p $(SCRATCH)/tmp
	LIFECYCLE_DATA_DIR=$(SCRATCH) $(BIN)/sqlfluff fix models analyses snapshots tests/dbt
	@rm -rf $(SCRATCH)

# Re-resolve the pinned set from requirements.in (needs the package registry).
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet -r requirements.in
	.lock-venv/bin/pip freeze --exclude-editable > requirements.lock
	rm -rf .lock-venv

# Stage timings, peak RSS and the performance ratios at each scale (docs/performance.md); not part of `test`.
# Writes $(LIFECYCLE_DATA_DIR)/bench/results.{json,md}. Override: make bench BENCH_SCALES="0.1 1" BENCH_DAYS=7
# BENCH_HISTORY_SCALE=0.1 BENCH_HISTORY_DAYS="7 14" (quick); BENCH_HISTORY_DAYS= skips the history axis;
# BENCH_HISTORY_REPEATS=1 runs each history length's day once.
BENCH_SCALES ?= 1 10
BENCH_DAYS ?= 28
BENCH_HISTORY_SCALE ?= 1
BENCH_HISTORY_DAYS ?= 28 112
BENCH_HISTORY_REPEATS ?= 2
bench: $(INSTALLED)
	BENCH_SCALES="$(BENCH_SCALES)" BENCH_DAYS="$(BENCH_DAYS)" BENCH_HISTORY_SCALE="$(BENCH_HISTORY_SCALE)" \
		BENCH_HISTORY_DAYS="$(BENCH_HISTORY_DAYS)" BENCH_HISTORY_REPEATS="$(BENCH_HISTORY_REPEATS)" \
		$(PY) -m lifecycle.bench

# The Dagster UI and daemon for $LIFECYCLE_DATA_DIR on 127.0.0.1 (DAGSTER_HOME under the data directory,
# telemetry off); Ctrl-C stops both. docs/orchestration.md
DAGSTER_PORT ?= 3000
orchestrate: $(INSTALLED)
	$(PY) -m lifecycle.orchestration --port $(DAGSTER_PORT)

clean:
	rm -rf $(VENV) $(SPARK_VENV) target logs
