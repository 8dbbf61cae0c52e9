"""``make bench``: time every lifecycle stage at several scales and the ratios that say where time goes.

``harness`` runs each stage in its own child process and measures it, ``baselines`` runs the same work
without the platform (DuckDB alone, dbt's SQL alone, the checks as plain SQL), ``report`` turns the
measurements into ratios and ``results.json`` / ``results.md``; ``python -m lifecycle.bench`` drives them.
"""
