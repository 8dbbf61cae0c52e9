"""The site's page frame and HTML tables: string templates, every value escaped, CSS inline, no JavaScript."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterable, Sequence
from html import escape

#: (file, title) of every page, in the order the navigation shows them.
PAGES = (
    ("index.html", "Overview"),
    ("dbt/index.html", "Models & lineage"),
    ("gx/index.html", "Data Docs"),
    ("quality.html", "Quality"),
    ("health.html", "Pipeline health"),
    ("analyses.html", "Analyses"),
    ("coverage.html", "Coverage"),
)

CSS = """
body{font-family:system-ui,sans-serif;max-width:72rem;margin:0 auto;padding:0 1rem 3rem;color:#222}
nav{display:flex;flex-wrap:wrap;gap:.25rem 1rem;padding:.8rem 0;border-bottom:1px solid #ddd}
h1{margin-top:1rem}
nav a{color:#0b5cad;text-decoration:none}nav a.here{font-weight:700;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.2rem}
td,th{border:1px solid #ccc;padding:.2rem .55rem;text-align:left;vertical-align:top;font-size:.92rem}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#1a7f37}.warn{color:#9a6700}.fail{color:#cf222e;font-weight:600}.muted{color:#666}
pre{background:#f6f6f6;padding:.8rem;overflow:auto;font-size:.85rem}
.error{background:#fff0f0;border-left:4px solid #cf222e;padding:.5rem .8rem}
svg{max-width:100%;height:auto;display:block;margin:.3rem 0 1.2rem}
"""


def page(current: str, title: str, body: str) -> str:
    """A whole page: navigation to every other page (relative links, so the site works from disk)."""
    links = " ".join(
        f'<a href="{escape(href)}"{" class=here" if href == current else ""}>{escape(name)}</a>'
        for href, name in PAGES
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)} · lifecycle</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{CSS}</style></head>
<body>
<nav>{links}</nav>
<h1>{escape(title)}</h1>
{body}
</body></html>
"""


def cell(value: object) -> str:
    """One table cell: numbers right-aligned, nulls spelled out, everything escaped."""
    if value is None:
        return '<td class="muted">null</td>'
    if isinstance(value, bool):
        return f"<td>{str(value).lower()}</td>"
    if isinstance(value, int):
        return f'<td class="num">{value:,}</td>'
    if isinstance(value, float | decimal.Decimal):
        return f'<td class="num">{value:,.2f}</td>'
    if isinstance(value, dt.datetime):
        return f"<td>{escape(value.isoformat(sep=' ', timespec='seconds'))}</td>"
    return f"<td>{escape(str(value))}</td>"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], *, raw: bool = False) -> str:
    """An HTML table; with ``raw`` the cells are trusted HTML fragments (already escaped by the caller)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{v}</td>" if raw else cell(v) for v in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def error(message: str) -> str:
    return f'<p class="error">{escape(message)}</p>'
