"""Charts as inline SVG strings: pure functions of their data, so the site needs no JavaScript and no CDN."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

#: Colour-blind-safe palette (Okabe-Ito), used in series order unless a series names its colour.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
STATUS_COLOURS = {"passed": "#1a7f37", "warned": "#d4a72c", "failed": "#cf222e"}


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


def stacked_bars(
    title: str,
    categories: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    colours: Mapping[str, str] | None = None,
    unit: str = "rows",
    width: int = 760,
    height: int = 260,
) -> str:
    """A stacked bar chart: one bar per category, one stacked segment per series, with a legend."""
    if not categories:
        return f'<p class="muted">{escape(title)}: no data yet.</p>'
    colours = colours or {}
    names = list(series)
    colour = {n: colours.get(n, PALETTE[i % len(PALETTE)]) for i, n in enumerate(names)}
    left, right, top, bottom = 56, 12, 28, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(float(series[n][i] or 0) for n in names) for i in range(len(categories))]
    y_max = _nice_max(max(totals))
    slot = plot_w / len(categories)
    bar_w = min(48.0, max(1.0, slot * 0.72))
    # Label every n-th bar so labels (about 6.5 px per character) never overlap.
    label_every = max(1, math.ceil((6.5 * max(len(c) for c in categories) + 8) / slot))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}"'
        f' height="{height}" role="img" aria-label="{escape(title)}" font-family="system-ui,sans-serif"'
        ' font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<text x="{left}" y="16" font-size="13" font-weight="600">{escape(title)}</text>',
    ]
    for fraction in (0, 0.5, 1):
        y = top + plot_h * (1 - fraction)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_number(y_max * fraction)}</text>'
        )
    for i, category in enumerate(categories):
        x = left + slot * i + (slot - bar_w) / 2
        base = top + plot_h
        for name in names:
            value = float(series[name][i] or 0)
            if value <= 0:
                continue
            h = plot_h * value / y_max
            base -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar_w:.1f}" height="{h:.1f}"'
                f' fill="{colour[name]}"><title>{escape(category)} · {escape(name)}:'
                f" {_number(value)} {escape(unit)}</title></rect>"
            )
        if i % label_every == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 14}" text-anchor="middle">'
                f"{escape(category)}</text>"
            )
    legend_x = left
    for name in names:
        parts.append(
            f'<rect x="{legend_x}" y="{height - 16}" width="10" height="10" fill="{colour[name]}"/>'
            f'<text x="{legend_x + 14}" y="{height - 7}">{escape(name)}</text>'
        )
        legend_x += 24 + 7 * len(name)
    parts.append("</svg>")
    return "".join(parts)
