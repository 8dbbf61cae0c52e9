"""Every chart of the site: a Vega-Lite specification built with Altair, rendered to static SVG at build time
by vl-convert (its own embedded engine: no browser, no JavaScript in the page, no CDN)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import pandas as pd
import vl_convert
from markupsafe import Markup

from lifecycle.docs.layout import render_fragment

#: Colour-blind-safe palette (Okabe-Ito), used in series order unless a series names its colour.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
STATUS_COLOURS = {"passed": "#1a7f37", "warned": "#d4a72c", "failed": "#cf222e"}
WIDTH, HEIGHT = 680, 220

Record = Mapping[str, Any]


def to_svg(chart: alt.TopLevelMixin, title: str) -> Markup:
    """The chart as inline SVG, announced to screen readers (and tests) as one image named ``title``.

    vl-convert escapes every text it draws, so data values cannot inject markup.
    """
    svg = vl_convert.vegalite_to_svg(chart.to_dict())
    label = Markup.escape(title)
    return Markup(svg.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1))


def _colour_scale(names: Sequence[str], colours: Mapping[str, str]) -> alt.Scale:
    return alt.Scale(
        domain=list(names), range=[colours.get(n, PALETTE[i % len(PALETTE)]) for i, n in enumerate(names)]
    )


def stacked_bars(
    title: str,
    categories: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    colours: Mapping[str, str] | None = None,
    unit: str = "rows",
    width: int = WIDTH,
    height: int = HEIGHT,
) -> Markup:
    """A stacked bar chart: one bar per category, one stacked segment per series, with a legend."""
    values = [
        {"category": c, "series": name, "value": float(v[i] or 0)}
        for name, v in series.items()
        for i, c in enumerate(categories)
        if v[i]
    ]
    if not values:
        return render_fragment("no_data.html", title=title)
    chart = (
        alt.Chart(pd.DataFrame(values), title=title, width=width, height=height)
        .mark_bar()
        .encode(
            x=alt.X(
                "category:O", title=None, sort=list(categories), scale=alt.Scale(domain=list(categories))
            ),
            y=alt.Y("value:Q", title=unit, stack="zero"),
            color=alt.Color(
                "series:N",
                title=None,
                scale=_colour_scale(list(series), colours or {}),
                legend=alt.Legend(orient="bottom"),
            ),
            order=alt.Order("series:N"),
            tooltip=["category:O", "series:N", alt.Tooltip("value:Q", format=",")],
        )
    )
    return to_svg(chart, title)


def lines(
    title: str,
    records: Sequence[Record],
    *,
    x: str,
    series: Mapping[str, str],
    unit: str,
    number_format: str = ",.0f",
    width: int = WIDTH,
    height: int = HEIGHT,
) -> Markup:
    """One line per series (``column → label``) over the dates in ``x``, with a point per value."""
    values = [
        {"x": str(r[x]), "series": label, "value": float(r[column])}
        for r in records
        for column, label in series.items()
        if r.get(column) is not None
    ]
    if not values:
        return render_fragment("no_data.html", title=title)
    chart = (
        alt.Chart(pd.DataFrame(values), title=title, width=width, height=height)
        .mark_line(point=True)
        .encode(
            x=alt.X("x:T", title=None, timeUnit="yearmonthdate"),
            y=alt.Y("value:Q", title=unit, axis=alt.Axis(format=number_format)),
            color=alt.Color(
                "series:N",
                title=None,
                scale=_colour_scale(list(series.values()), {}),
                legend=alt.Legend(orient="bottom"),
            ),
            tooltip=[
                alt.Tooltip("x:T", timeUnit="yearmonthdate", title="date"),
                "series:N",
                alt.Tooltip("value:Q", format=number_format),
            ],
        )
    )
    return to_svg(chart, title)


def bars(
    title: str,
    records: Sequence[Record],
    *,
    category: str,
    value: str,
    unit: str,
    colour_by: str | None = None,
    number_format: str = ",.2f",
    sort_descending: bool = True,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> Markup:
    """Horizontal bars: one per ``category``, longest first, optionally coloured by another column."""
    values: list[dict[str, Any]] = [
        {
            "category": "(none)" if r[category] is None else str(r[category]),
            "value": float(r[value]),
            "colour": str(r[colour_by]) if colour_by else "",
        }
        for r in records
        if r.get(value) is not None
    ]
    if not values:
        return render_fragment("no_data.html", title=title)
    encoding: dict[str, Any] = {
        "y": alt.Y("category:N", title=None, sort="-x" if sort_descending else None),
        "x": alt.X("value:Q", title=unit, axis=alt.Axis(format=number_format)),
        "tooltip": ["category:N", alt.Tooltip("value:Q", format=number_format)],
    }
    if colour_by:
        names = sorted({str(v["colour"]) for v in values})
        encoding["color"] = alt.Color(
            "colour:N",
            title=colour_by.rsplit("__", 1)[-1],
            scale=_colour_scale(names, {}),
            legend=alt.Legend(orient="bottom"),
        )
    chart = (
        alt.Chart(pd.DataFrame(values), title=title, width=width, height=height).mark_bar().encode(**encoding)
    )
    return to_svg(chart, title)


def heatmap(
    title: str,
    records: Sequence[Record],
    *,
    x: str,
    y: str,
    value: str,
    x_title: str,
    y_title: str,
    number_format: str = ".0%",
    width: int = WIDTH,
    height: int = HEIGHT,
) -> Markup:
    """A grid of ``value`` by ``x`` and ``y`` with the value written in each cell (e.g. cohort retention)."""
    values = [
        {"x": str(r[x]), "y": str(r[y]), "value": float(r[value])}
        for r in records
        if r.get(value) is not None
    ]
    if not values:
        return render_fragment("no_data.html", title=title)
    base = alt.Chart(pd.DataFrame(values), title=title, width=width, height=height).encode(
        x=alt.X("x:O", title=x_title), y=alt.Y("y:O", title=y_title)
    )
    cells = base.mark_rect().encode(
        color=alt.Color("value:Q", title=None, scale=alt.Scale(scheme="blues", domain=[0, 1])),
        tooltip=["y:O", "x:O", alt.Tooltip("value:Q", format=number_format)],
    )
    text = base.mark_text(baseline="middle").encode(
        text=alt.Text("value:Q", format=number_format),
        color=alt.condition(alt.datum.value > 0.5, alt.value("white"), alt.value("black")),
    )
    return to_svg(alt.layer(cells, text), title)
