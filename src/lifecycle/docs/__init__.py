"""The docs site: dbt docs (catalog + lineage, one static page), GE Data Docs and run reports, under site/.

Everything is static HTML readable offline; ``lifecycle docs --serve`` only adds a localhost server.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import html
import http.server
import json
import shutil
from pathlib import Path

from lifecycle.config import Settings
from lifecycle.errors import LifecycleError
from lifecycle.transform import run_dbt

#: Placeholder compiled into the docs instead of the real PII salt, so the site never shows it.
REDACTED_SALT = "<redacted>"


def build_docs(settings: Settings) -> Path:
    """Build site/: dbt docs at site/dbt/, Data Docs at site/gx/ (built by validate), and the index page."""
    site = settings.site_dir
    site.mkdir(parents=True, exist_ok=True)
    failures = run_dbt(settings, ["docs", "generate", "--static"], salt=REDACTED_SALT)
    if failures:
        raise LifecycleError(f"dbt docs generate failed: {failures[0].message}")
    static = settings.state_dir / "dbt-target" / "static_index.html"
    if not static.exists():
        raise LifecycleError(f"dbt docs generate wrote no {static}")
    (site / "dbt").mkdir(exist_ok=True)
    shutil.copyfile(static, site / "dbt" / "index.html")
    reports = sorted((settings.state_dir / "reports").glob("*.md"), reverse=True)
    (site / "index.html").write_text(_index_page(settings, reports[:1]))
    return site / "index.html"


def _index_page(settings: Settings, reports: list[Path]) -> str:
    publication = settings.state_dir / "last_publication.json"
    published = json.loads(publication.read_text()) if publication.exists() else None
    gx = (settings.site_dir / "gx" / "index.html").exists()
    rows = ""
    if published:
        rows = "".join(
            f"<tr><td>{html.escape(name)}</td><td>{count:,}</td></tr>"
            for name, count in published["tables"].items()
        )
    report = html.escape(reports[0].read_text()) if reports else "No run report yet."
    built = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lifecycle: data docs</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.25rem .6rem;text-align:left}}
pre{{background:#f6f6f6;padding:1rem;overflow:auto}}</style></head>
<body>
<h1>lifecycle: the retailer's data platform</h1>
<p>Built {built}. Everything here is static and works offline.</p>
<ul>
  <li><a href="dbt/index.html">Models, columns and lineage</a> (dbt docs)</li>
  <li>{'<a href="gx/index.html">Great Expectations Data Docs</a>' if gx else "Data Docs: not built yet"}</li>
</ul>
<h2>Published marts</h2>
<p>{
        "Published "
        + html.escape(published["published_at"])
        + " to <code>"
        + html.escape(published["path"])
        + "</code>"
        if published
        else "Nothing published yet."
    }</p>
<table><tr><th>table</th><th>rows</th></tr>{rows}</table>
<h2>Latest run report</h2>
<pre>{report}</pre>
</body></html>
"""


def serve(settings: Settings, port: int = 8080) -> None:
    index = settings.site_dir / "index.html"
    if not index.exists():
        raise LifecycleError(f"no site at {index}: run `lifecycle docs` first")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(settings.site_dir))
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        print(f"serving {settings.site_dir} on http://127.0.0.1:{port}/ (Ctrl-C to stop)")
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
