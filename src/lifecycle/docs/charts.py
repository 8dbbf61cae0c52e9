"""Charts as inline SVG: the geometry is a pure function of the data, drawn by ``templates/stacked_bars.svg``,
so the site needs no JavaScript and no CDN."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup

from lifecycle.docs.layout import render_fragment

#: Colour-blind-safe palette (Okabe-Ito), used in series order unless a series names its colour.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
STATUS_COLOURS = {"passed": "#1a7f37", "warned": "#d4a72c", "failed": "#cf222e"}
#: Margins of the plot area inside the chart: left (y labels), right, top (title), bottom (x labels, legend).
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 28, 46


@dataclass(frozen=True)
class Segment:
    """One series' part of one bar, with its tooltip."""

    x: float
    y: float
    width: float
    height: float
    colour: str
    tooltip: str


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Gridline:
    """A horizontal line of the y axis and its value."""

    y: float
    text: str

    @property
    def text_y(self) -> float:
        return round(self.y + 4, 1)


@dataclass(frozen=True)
class Swatch:
    """A legend entry: the series' colour and name."""

    x: float
    colour: str
    name: str


def _nice_max(value: float) -> float:
    """The smallest 1/2/5 × 10^n at or above ``value``: a round top for the y axis."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1) if value >= 1 else 1
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return float(step * magnitude)
    return float(10 * magnitude)


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:,.2g}"


def _gridlines(y_max: float, plot_h: float) -> list[Gridline]:
    """The y axis: gridlines at 0, half and the top, each labelled with its value."""
    return [Gridline(round(TOP + plot_h * (1 - f), 1), _number(y_max * f)) for f in (0, 0.5, 1)]


def _segments(
    categories: Sequence[str],
    series: Mapping[str, Sequence[float]],
    colour: Mapping[str, str],
    unit: str,
    y_max: float,
    plot: tuple[float, float],
) -> tuple[list[Segment], list[Label]]:
    """The bars (one stacked segment per non-zero value) and the category labels under them."""
    plot_w, plot_h = plot
    slot = plot_w / len(categories)
    bar_w = min(48.0, max(1.0, slot * 0.72))
    # Label every n-th bar so labels (about 6.5 px per character) never overlap.
    label_every = max(1, math.ceil((6.5 * max(len(c) for c in categories) + 8) / slot))
    segments, labels = [], []
    for i, category in enumerate(categories):
        x = LEFT + slot * i + (slot - bar_w) / 2
        base = TOP + plot_h
        for name, values in series.items():
            value = float(values[i] or 0)
            if value <= 0:
                continue
            h = plot_h * value / y_max
            base -= h
            tooltip = f"{category} · {name}: {_number(value)} {unit}"
            segments.append(
                Segment(round(x, 1), round(base, 1), round(bar_w, 1), round(h, 1), colour[name], tooltip)
            )
        if i % label_every == 0:
            labels.append(Label(round(x + bar_w / 2, 1), TOP + plot_h + 14, category))
    return segments, labels


def _legend(colour: Mapping[str, str]) -> list[Swatch]:
    swatches, x = [], LEFT
    for name, fill in colour.items():
        swatches.append(Swatch(x, fill, name))
        x += 24 + 7 * len(name)
    return swatches


def stacked_bars(
    title: str,
    categories: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    colours: Mapping[str, str] | None = None,
    unit: str = "rows",
    width: int = 760,
    height: int = 260,
) -> Markup:
    """A stacked bar chart: one bar per category, one stacked segment per series, with a legend."""
    if not categories:
        return render_fragment("no_data.html", title=title)
    colours = colours or {}
    colour = {n: colours.get(n, PALETTE[i % len(PALETTE)]) for i, n in enumerate(series)}
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    totals = [sum(float(values[i] or 0) for values in series.values()) for i in range(len(categories))]
    y_max = _nice_max(max(totals))
    segments, labels = _segments(categories, series, colour, unit, y_max, (plot_w, plot_h))
    return render_fragment(
        "stacked_bars.svg",
        title=title,
        width=width,
        height=height,
        left=LEFT,
        right_edge=width - RIGHT,
        gridlines=_gridlines(y_max, plot_h),
        segments=segments,
        labels=labels,
        legend=_legend(colour),
    )
