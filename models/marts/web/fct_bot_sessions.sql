-- The sessions left out of fct_sessions as bots, with the rule that caught them: the audit trail.
-- Joins int_sessions_stitched to its verdict in int_sessions_classified, which was built from it: an
-- accepted rejoin, like fct_sessions' (docs/dbt-project.md, "Exceptions").
with

sessions as (
    select * from {{ ref('int_sessions_stitched') }}
),

classified as (
    select * from {{ ref('int_sessions_classified') }}
)

select
    sessions.session_id,
    sessions.session_started_at,
    sessions.session_ended_at,
    sessions.session_date,
    sessions.anonymous_id,
    sessions.user_agent,
    sessions.device_type,
    sessions.platform,
    cast(sessions.event_count as {{ dbt.type_bigint() }}) as event_count,
    cast(sessions.median_gap_seconds as {{ dbt.type_float() }}) as median_gap_seconds,
    cast(sessions.max_gap_seconds as {{ dbt.type_float() }}) as max_gap_seconds,
    classified.bot_rule,
    classified.bot_name
from sessions
inner join classified
    on sessions.session_id = classified.session_id
where classified.is_bot
