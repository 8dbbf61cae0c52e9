"""The site's templates: one Jinja2 environment over ``templates/``, with autoescaping on, so every value a
page shows is escaped unless it is already markup (a chart), and how table cells show values."""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

#: (file, title) of every page, in the order the navigation shows them.
PAGES = (
    ("index.html", "Overview"),
    ("dashboards.html", "Dashboards"),
    ("dbt/index.html", "Models & lineage"),
    ("gx/index.html", "Data Docs"),
    ("quality.html", "Quality"),
    ("health.html", "Pipeline health"),
    ("incidents.html", "Incidents"),
    ("analyses.html", "Analyses"),
    ("coverage.html", "Coverage"),
)


@dataclass(frozen=True)
class Cell:
    """How a table cell shows a value: its text and CSS class (``num`` right-aligns, ``muted`` greys)."""

    text: str
    css: str = ""


def cell(value: object) -> Cell:
    """One table cell: numbers right-aligned with thousands separators, nulls spelled out."""
    if value is None:
        return Cell("null", "muted")
    if isinstance(value, bool):
        return Cell(str(value).lower())
    if isinstance(value, int):
        return Cell(f"{value:,}", "num")
    if isinstance(value, float | decimal.Decimal):
        return Cell(f"{value:,.2f}", "num")
    if isinstance(value, dt.datetime):
        return Cell(value.isoformat(sep=" ", timespec="seconds"))
    return Cell(str(value))


def thousands(value: int) -> str:
    """A count with thousands separators: 12,345."""
    return f"{value:,}"


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("lifecycle.docs", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["cell"] = cell
    env.filters["thousands"] = thousands
    env.globals["pages"] = PAGES
    return env


ENVIRONMENT = _environment()


def render_page(template: str, title: str, **context: Any) -> str:
    """The page ``template`` (its file name is also the page's name in the navigation)."""
    return ENVIRONMENT.get_template(template).render(current=template, title=title, **context)


def render_fragment(template: str, **context: Any) -> Markup:
    """A piece of markup (a chart) to place in a page as is."""
    return Markup(ENVIRONMENT.get_template(template).render(**context).strip())
