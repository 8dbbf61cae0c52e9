"""One definition per business rule: order value and net revenue (macros/business_rules.sql), the order
statuses (seed order_statuses), the marketing channels (seed marketing_channels) and a campaign's channel
(fct_marketing_daily) are each written once and referenced everywhere else — models, analyses, YAML tests,
Great Expectations suites and our Python. This lint fails naming the file and line that writes one out again.

The simulator (src/lifecycle/generate/) is left out: it plays the source systems, which have rules of their
own that the warehouse must not read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from lifecycle.config import PROJECT_DIR
from lifecycle.quality.suites import DbtProject

SCANNED = (
    "models",
    "analyses",
    "macros",
    "seeds",
    "snapshots",
    "tests/dbt",
    "expectations",
    "docs/dbt",
    "src",
)
NOT_OURS = ("src/lifecycle/generate/",)
SUFFIXES = {".sql", ".yml", ".yaml", ".py", ".md", ".csv"}


def _seed_column(name: str, column: str) -> list[str]:
    return [row[column] for row in DbtProject(PROJECT_DIR).seed(name)]


def _list_of(values: list[str], at_least: int) -> re.Pattern[str]:
    """``at_least`` of ``values`` in a row, separated only by commas, quotes and spaces: a retyped list."""
    value = r"""["'`]?\b(?:""" + "|".join(map(re.escape, values)) + r""")\b["'`]?"""
    return re.compile(rf"{value}(?:\s*,\s*{value}){{{at_least - 1},}}")


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: re.Pattern[str]
    #: The one file allowed to hold the pattern (None: none, the definition lives elsewhere).
    home: str | None
    definition: str


RULES = (
    Rule(
        "order value (gross less discount)",
        re.compile(r"\b(?:\w+\.)?gross_(?:revenue|amount)\s*-\s*(?:\w+\.)?discount_amount\b"),
        None,
        "macros/business_rules.sql: {{ order_value(...) }} / {{ net_revenue(...) }}; "
        "GE suites: ctx.dbt.macro('order_value', ...)",
    ),
    Rule(
        "order status list",
        _list_of(_seed_column("order_statuses", "order_status"), 3),
        None,
        "seeds/order_statuses.csv: relationships test to ref('order_statuses'); GE: ctx.dbt.seed(...)",
    ),
    Rule(
        "marketing channel list",
        _list_of(_seed_column("marketing_channels", "channel"), 2),
        None,
        "seeds/marketing_channels.csv: relationships test, join seeds.marketing_channels, ctx.dbt.seed(...)",
    ),
    Rule(
        "campaign → channel",
        re.compile(r"\b(?:max|min|any_value|first|last|arg_max|arg_min|mode)\(\s*(?:\w+\.)?channel\b", re.I),
        "models/marts/marketing/fct_marketing_daily.sql",
        "fct_marketing_daily.channel (the ad platform's channel of the campaign)",
    ),
)


def find_repetitions(root: Path) -> list[str]:
    """Every line under ``root`` that writes out a rule outside its one home, as ``file:line: rule``."""
    findings = []
    for folder in SCANNED:
        for path in sorted((root / folder).rglob("*")):
            relative = path.relative_to(root).as_posix()
            if path.suffix not in SUFFIXES or not path.is_file() or relative.startswith(NOT_OURS):
                continue
            if relative == "tests/python/test_one_definition.py":
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                for rule in RULES:
                    if relative != rule.home and rule.pattern.search(line):
                        findings.append(
                            f"{relative}:{number}: {rule.name} written out; use {rule.definition}"
                        )
    return findings


def test_no_business_rule_is_written_out_twice():
    assert find_repetitions(PROJECT_DIR) == []


@pytest.mark.parametrize(
    ("rule", "offending"),
    [
        (RULES[0], "    sum(orders.gross_revenue - orders.discount_amount) as revenue,"),
        (RULES[0], "select gross_amount-discount_amount as net from {batch}"),
        (RULES[1], "values: [placed, paid, shipped, delivered, cancelled, returned]"),
        (RULES[1], "where order_status in ('paid', 'shipped', 'delivered')"),
        (RULES[2], "accepted_values: {values: [paid_search, paid_social, display]}"),
        (RULES[2], 'channels = ["paid_search", "display"]'),
        (RULES[3], "select campaign_id, max(spend.channel) as channel from spend group by campaign_id"),
    ],
)
def test_the_lint_finds_a_rule_written_out_again(tmp_path: Path, rule: Rule, offending: str):
    (tmp_path / "analyses").mkdir()
    (tmp_path / "analyses" / "copy.sql").write_text(f"-- a retyped rule\n{offending}\n")
    assert find_repetitions(tmp_path) == [
        f"analyses/copy.sql:2: {rule.name} written out; use {rule.definition}"
    ]


def test_the_lint_lets_prose_and_single_values_pass(tmp_path: Path):
    (tmp_path / "docs" / "dbt").mkdir(parents=True)
    (tmp_path / "docs" / "dbt" / "ok.md").write_text(
        "An order moves `placed` → `paid` → `shipped`; the channel `paid_search` is one of the seed's.\n"
        "order_total - refund_amount\n"
    )
    assert find_repetitions(tmp_path) == []


def test_the_definitions_are_where_the_lint_sends_everyone():
    dbt = DbtProject(PROJECT_DIR)
    assert dbt.macro("order_value", "gross_revenue", "discount_amount") == "(gross_revenue - discount_amount)"
    assert dbt.macro("net_revenue", "g", "d", "r") == "((g - d) - r)"
    statuses = {row["order_status"]: row["is_cancelled"] for row in dbt.seed("order_statuses")}
    assert statuses["cancelled"] == "true"
    assert [s for s, cancelled in statuses.items() if cancelled == "true"] == ["cancelled"]
    home = (PROJECT_DIR / RULES[3].home).read_text() if RULES[3].home else ""
    assert RULES[3].pattern.search(home), "fct_marketing_daily no longer resolves a campaign's channel"
