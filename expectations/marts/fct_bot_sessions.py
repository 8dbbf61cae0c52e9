"""Checks on marts.fct_bot_sessions: the sessions left out of fct_sessions as bots, with the rule that
caught them (int_sessions_classified).

A session labelled a bot must meet its rule, with the crawler patterns of the seed ``bot_user_agents``
(joined, not retyped) and the thresholds of dbt's vars, or a human was dropped from web analytics.
"""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe

from lifecycle.quality.distribution import distribution_expectation
from lifecycle.quality.spc import daily_control_query
from lifecycle.quality.suites import SuiteContext, meta, runbook

MISCLASSIFIED = runbook(
    means="sessions were removed from web analytics as bots without meeting the bot rules, so human "
    "sessions and conversion are undercounted.",
    look="the listed sessions in int_sessions_classified and int_sessions_stitched, the seed "
    "bot_user_agents and the bot_* vars in dbt_project.yml.",
    fix="after a change of the seed or the vars, rebuild the classification (dbt build -s "
    "int_sessions_classified+ --full-refresh); otherwise fix int_sessions_classified.",
)


def build_suites(ctx: SuiteContext) -> list[gx.ExpectationSuite]:
    min_events = int(ctx.dbt.var("bot_min_events"))
    max_median_gap = float(ctx.dbt.var("bot_max_median_gap_seconds"))
    max_gap = float(ctx.dbt.var("bot_max_gap_seconds"))
    day = ctx.last_complete_day
    return [
        gx.ExpectationSuite(
            name=ctx.suite_name("accuracy"),
            expectations=[
                gxe.UnexpectedRowsExpectation(
                    description="Rule user_agent: the user agent contains a pattern of the seed "
                    "bot_user_agents and bot_name names it",
                    unexpected_rows_query="""
                        select session_id, user_agent, bot_name
                        from {batch}
                        where bot_rule = 'user_agent'
                            and (
                                bot_name is null
                                or not exists (
                                    select 1
                                    from seeds.bot_user_agents as patterns
                                    where contains(lower(user_agent), patterns.user_agent_pattern)
                                )
                            )
                    """,
                    meta=meta(
                        rule="A crawler is a session whose user agent contains a known crawler's pattern "
                        "(seed bot_user_agents)",
                        dimension="accuracy",
                        severity="critical",
                        runbook=MISCLASSIFIED,
                    ),
                ),
                gxe.UnexpectedRowsExpectation(
                    description=f"Rule behaviour: at least {min_events} events, median gap ≤ "
                    f"{max_median_gap:g} s, no gap over {max_gap:g} s",
                    unexpected_rows_query=f"""
                        select session_id, event_count, median_gap_seconds, max_gap_seconds
                        from {{batch}}
                        where bot_rule = 'behaviour'
                            and not (
                                event_count >= {min_events}
                                and median_gap_seconds <= {max_median_gap}
                                and max_gap_seconds <= {max_gap}
                            )
                    """,
                    meta=meta(
                        rule="A disguised bot clicks at machine speed: vars bot_min_events, "
                        "bot_max_median_gap_seconds and bot_max_gap_seconds",
                        dimension="accuracy",
                        severity="critical",
                        runbook=MISCLASSIFIED,
                    ),
                ),
                gxe.UnexpectedRowsExpectation(
                    description="Rule behaviour is only used when no crawler pattern matches",
                    unexpected_rows_query="""
                        select session_id, user_agent
                        from {batch}
                        where bot_rule = 'behaviour'
                            and exists (
                                select 1
                                from seeds.bot_user_agents as patterns
                                where contains(lower(user_agent), patterns.user_agent_pattern)
                            )
                    """,
                    meta=meta(
                        rule="A crawler that announces itself is caught by its user agent first",
                        dimension="accuracy",
                        severity="warning",
                        runbook=runbook(
                            means="a crawler pattern was added to the seed after these sessions were "
                            "classified; they are still labelled by behaviour.",
                            look="the seed's git history and the listed user agents.",
                            fix="rebuild the classification (dbt build -s int_sessions_classified+ "
                            "--full-refresh).",
                        ),
                    ),
                ),
                gxe.UnexpectedRowsExpectation(
                    description="session_date is the UTC day of session_started_at; the session ends "
                    "after it starts",
                    unexpected_rows_query="""
                        select session_id, session_started_at, session_ended_at, session_date
                        from {batch}
                        where session_date is distinct from cast(session_started_at as date)
                            or session_ended_at < session_started_at
                    """,
                    meta=meta(
                        rule="Bot sessions are dated like human sessions (doc block session_date)",
                        dimension="accuracy",
                        severity="warning",
                        runbook=MISCLASSIFIED,
                    ),
                ),
                distribution_expectation(
                    ctx,
                    time_column="session_started_at",
                    value="is_bot",
                    rate=True,
                    measure="bot share of sessions",
                    rows="""(
                        select session_started_at, true as is_bot from {batch}
                        union all
                        select session_started_at, false as is_bot from marts.fct_sessions
                    ) as sessions""",
                ),
            ],
        ),
        gx.ExpectationSuite(
            name=ctx.suite_name("completeness"),
            expectations=[
                gxe.UnexpectedRowsExpectation(
                    description=f"Bot sessions of {day} within prediction limits from the 14 days before",
                    unexpected_rows_query=daily_control_query(
                        day="session_date", value="count(*)", checked_day=day, prediction=True
                    ),
                    meta=meta(
                        rule="Bot traffic is steady: a jump is a bot wave or a classifier change "
                        "(prediction limits from history)",
                        dimension="completeness",
                        severity="warning",
                        runbook=runbook(
                            means="far more or fewer sessions were classified as bots than usual.",
                            look="the day's bot sessions by bot_rule and bot_name, and its human sessions.",
                            fix="nothing is blocked; a real bot wave needs no fix, a classifier change "
                            "is reviewed.",
                        ),
                    ),
                ),
            ],
        ),
    ]
