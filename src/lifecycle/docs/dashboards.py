"""The analysts' dashboards: each chart is one saved query of the semantic layer (``_*__semantic.yml`` beside
the marts), run at site build time on the published marts; the freshness dashboard is drawn from the
pipeline's own health records. One page per dashboard (``dashboard-<name>.html``), listed on
``dashboards.html``; ``models/exposures.yml`` points at these pages."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from lifecycle.docs import charts
from lifecycle.docs.health import Health
from lifecycle.docs.layout import render_page
from lifecycle.docs.metrics import Metrics, MetricTable


@dataclass(frozen=True)
class Chart:
    """One chart of a dashboard and where its numbers come from (a saved query, or a table)."""

    svg: Markup
    source: str


@dataclass(frozen=True)
class Dashboard:
    name: str
    title: str
    description: str
    charts: list[Chart] = field(default_factory=list)
    error: str | None = None

    @property
    def page(self) -> str:
        return f"dashboard-{self.name}.html"


def _sorted(table: MetricTable, *columns: str) -> list[dict[str, Any]]:
    """A saved query's rows as records, ordered by ``columns`` (saved queries do not order)."""
    return sorted(table.records(), key=lambda r: tuple(str(r[c]) for c in columns))


def _saved(name: str) -> str:
    return f"saved query {name} (mf query --saved-query {name})"


#: How many products the revenue dashboard ranks (as analyses/top_products.sql does).
TOP_PRODUCTS = 20


def revenue(metrics: Metrics) -> list[Chart]:
    daily = _sorted(metrics.saved_query("revenue_by_day"), "metric_time__day")
    monthly = _sorted(metrics.saved_query("revenue_by_month"), "metric_time__month")
    products = sorted(
        metrics.saved_query("product_sales").records(), key=lambda r: -(r["product_revenue"] or 0)
    )[:TOP_PRODUCTS]
    return [
        Chart(
            charts.lines(
                "Revenue per day",
                daily,
                x="metric_time__day",
                series={"gross_revenue": "gross revenue", "net_revenue": "net revenue", "refunds": "refunds"},
                unit="revenue",
            ),
            _saved("revenue_by_day"),
        ),
        Chart(
            charts.lines(
                "Orders per day", daily, x="metric_time__day", series={"orders": "orders"}, unit="orders"
            ),
            _saved("revenue_by_day"),
        ),
        Chart(
            charts.lines(
                "Average order value per day",
                daily,
                x="metric_time__day",
                series={"average_order_value": "average order value"},
                unit="per order",
                number_format=",.2f",
            ),
            _saved("revenue_by_day"),
        ),
        Chart(
            charts.stacked_bars(
                "Net revenue by month",
                [str(r["metric_time__month"])[:7] for r in monthly],
                {"net revenue": [r["net_revenue"] for r in monthly]},
                unit="revenue",
            ),
            _saved("revenue_by_month"),
        ),
        Chart(
            charts.bars(
                f"The {TOP_PRODUCTS} products with the most revenue",
                products,
                category="product__product_name",
                value="product_revenue",
                unit="revenue after discounts",
                colour_by="product__category_name",
                height=400,
            ),
            _saved("product_sales"),
        ),
    ]


FUNNEL_STEPS = {
    "sessions": "session",
    "product_view_sessions": "product view",
    "add_to_cart_sessions": "add to cart",
    "checkout_sessions": "checkout",
    "converted_sessions": "order",
}


def funnel(metrics: Metrics) -> list[Chart]:
    daily = _sorted(metrics.saved_query("funnel_by_day"), "metric_time__day")
    totals = [
        {"step": f"{i + 1}. {label}", "sessions": sum(r[column] or 0 for r in daily)}
        for i, (column, label) in enumerate(FUNNEL_STEPS.items())
    ]
    return [
        Chart(
            charts.bars(
                "Human sessions reaching each funnel step (whole period)",
                totals,
                category="step",
                value="sessions",
                unit="sessions",
                number_format=",.0f",
                sort_descending=False,
            ),
            _saved("funnel_by_day"),
        ),
        Chart(
            charts.lines(
                "Sessions per funnel step per day",
                daily,
                x="metric_time__day",
                series=FUNNEL_STEPS,
                unit="sessions",
            ),
            _saved("funnel_by_day"),
        ),
        Chart(
            charts.lines(
                "Conversion rate and bot share per day",
                daily,
                x="metric_time__day",
                series={"conversion_rate": "conversion rate", "bot_share": "bot share"},
                unit="share of sessions",
                number_format=".0%",
            ),
            _saved("funnel_by_day"),
        ),
    ]


def marketing(metrics: Metrics) -> list[Chart]:
    campaigns = metrics.saved_query("campaign_performance").records()
    by_month = _sorted(metrics.saved_query("channel_performance_by_month"), "metric_time__month")
    channel_spend: dict[str, dict[str, float]] = defaultdict(dict)
    for r in by_month:
        channel_spend[str(r["campaign_day__channel"])][str(r["metric_time__month"])[:7]] = (
            r["ad_spend"] or 0.0
        )
    months = sorted({m for spend in channel_spend.values() for m in spend})
    return [
        Chart(
            charts.bars(
                "Return on ad spend by campaign (last touch, 7 days)",
                campaigns,
                category="campaign_day__campaign_name",
                value="roas",
                unit="attributed revenue per unit of spend",
                colour_by="campaign_day__channel",
            ),
            _saved("campaign_performance"),
        ),
        Chart(
            charts.bars(
                "Customer acquisition cost by campaign",
                campaigns,
                category="campaign_day__campaign_name",
                value="cac",
                unit="spend per attributed new customer",
                colour_by="campaign_day__channel",
            ),
            _saved("campaign_performance"),
        ),
        Chart(
            charts.stacked_bars(
                "Ad spend by channel and month",
                months,
                {
                    channel: [spend.get(m, 0.0) for m in months]
                    for channel, spend in sorted(channel_spend.items())
                },
                unit="spend",
            ),
            _saved("channel_performance_by_month"),
        ),
    ]


def retention(metrics: Metrics) -> list[Chart]:
    rows = metrics.saved_query("cohort_retention").records()
    for r in rows:
        r["cohort"] = str(r["metric_time__month"])[:7]
    weekly = _sorted(metrics.saved_query("new_customers_by_week"), "metric_time__week")
    return [
        Chart(
            charts.heatmap(
                "Share of each first-order cohort ordering again, by months since the first order",
                rows,
                x="cohort_month_row__months_since_first_order",
                y="cohort",
                value="retention_rate",
                x_title="months since first order",
                y_title="cohort (first-order month)",
            ),
            _saved("cohort_retention"),
        ),
        Chart(
            charts.stacked_bars(
                "New customers (accounts created) per week",
                [str(r["metric_time__week"]) for r in weekly],
                {"new customers": [r["new_customers"] for r in weekly]},
                unit="customers",
            ),
            _saved("new_customers_by_week"),
        ),
    ]


def freshness(health: Health) -> list[Chart]:
    behind = [
        {"source": source, "hours": (health.as_of - latest).total_seconds() / 3600}
        for source, (latest, *_rest) in sorted(health.freshness.items())
        if latest is not None
    ]
    per_source: dict[str, dict[str, int]] = defaultdict(dict)
    for source, day, n in health.rows_per_day:
        per_source[source][day.isoformat()] = n
    days = sorted({d for counts in per_source.values() for d in counts})[-30:]
    return [
        Chart(
            charts.bars(
                "Hours between each source's newest row and the as-of time",
                behind,
                category="source",
                value="hours",
                unit="hours behind",
                number_format=",.1f",
            ),
            "raw tables' newest source time (the pipeline health page)",
        ),
        Chart(
            charts.stacked_bars(
                "Rows landed per day and source (the last 30 days with rows)",
                days,
                {source: [counts.get(d, 0) for d in days] for source, counts in sorted(per_source.items())},
            ),
            "raw tables (the pipeline health page)",
        ),
    ]


#: name, title, description, and how its charts are drawn from the semantic layer.
SEMANTIC_DASHBOARDS: Sequence[tuple[str, str, str, Callable[[Metrics], list[Chart]]]] = (
    (
        "revenue",
        "Revenue and orders",
        "Net and gross revenue, refunds, orders and average order value.",
        revenue,
    ),
    (
        "funnel",
        "Funnel",
        "Human sessions through the shopping funnel, conversion, and the bot traffic left out.",
        funnel,
    ),
    (
        "marketing",
        "Channels and campaigns",
        "Ad spend, ROAS and CAC by channel and campaign (last touch, 7 days).",
        marketing,
    ),
    (
        "retention",
        "Cohort retention",
        "How many customers of each first-order month order again, and sign-ups.",
        retention,
    ),
)


def build(metrics: Metrics | None, health: Health, missing: str = "nothing published yet") -> list[Dashboard]:
    """Every dashboard; those of the semantic layer say why they are empty when nothing is published."""
    dashboards = [
        Dashboard(name, title, description, draw(metrics))
        if metrics
        else Dashboard(name, title, description, error=missing)
        for name, title, description, draw in SEMANTIC_DASHBOARDS
    ]
    dashboards.append(
        Dashboard(
            "freshness",
            "Data freshness",
            "How current each source is, and what landed per day.",
            freshness(health),
        )
    )
    return dashboards


def render(dashboards: list[Dashboard]) -> dict[str, str]:
    """The dashboards' index and one page per dashboard, by file name under site/."""
    pages = {d.page: render_page("dashboard.html", d.title, dashboard=d) for d in dashboards}
    pages["dashboards.html"] = render_page("dashboards.html", "Dashboards", dashboards=dashboards)
    return pages
