{#- Incremental, not the folder's table, like int_sessions_stitched whose rows it classifies: the unit of
    work is one visitor. Every anonymous_id whose sessions were rebuilt since the last build
    (landed_since_last_build) has all its rows replaced (delete+insert on anonymous_id), so sessions that
    a late event merged away disappear here too. -#}
{{
    config(
        materialized=incremental_materialization(),
        incremental_strategy='delete+insert',
        unique_key='anonymous_id',
        on_schema_change='fail',
    )
}}

{#- A table built before this model was incremental lacks anonymous_id and last_ingested_at, and its old
    rows would survive a delete+insert: select everything so that dbt's schema check (on_schema_change
    'fail') stops the build with "run with --full-refresh" instead of a binder error. -#}
{%- set incremental = is_incremental() and 'last_ingested_at' in (
    adapter.get_columns_in_relation(this) | map(attribute='name') | list
) %}

-- One row per session with its bot verdict: a crawler's user agent (seed bot_user_agents)
-- or bot-like behaviour.
with

{% if incremental %}
    changed_visitors as (
        {{ changed_keys(
            ref('int_sessions_stitched'), 'anonymous_id', 'last_ingested_at', 'last_ingested_at'
        ) }}
    ),

    -- The changed visitors' rows only, found by key before any other column is read (rows_of_keys).
    sessions as (
        {{ rows_of_keys(ref('int_sessions_stitched'), 'anonymous_id', 'changed_visitors') }}
    ),
{% else %}
    sessions as (
        select * from {{ ref('int_sessions_stitched') }}
    ),
{% endif %}

bot_user_agents as (
    select * from {{ ref('bot_user_agents') }}
),

declared_bots as (
    select
        sessions.session_id,
        min(bot_user_agents.bot_name) as bot_name
    from sessions
    inner join bot_user_agents
        on lower(sessions.user_agent) like '%' || bot_user_agents.user_agent_pattern || '%'
    group by sessions.session_id
),

-- Behaviour no shopper shows: a burst of views a few seconds apart, never a cart, never a login.
behaviour as (
    select
        session_id,
        event_count >= {{ var('bot_min_events') }}
        and median_gap_seconds <= {{ var('bot_max_median_gap_seconds') }}
        and max_gap_seconds <= {{ var('bot_max_gap_seconds') }}
        and add_to_cart_count = 0
        and checkout_started_count = 0
        and order_placed_count = 0
        and identified_customer_id is null as is_bot_behaviour
    from sessions
),

final as (
    select
        sessions.session_id,
        sessions.anonymous_id,
        declared_bots.session_id is not null as is_declared_bot,
        coalesce(behaviour.is_bot_behaviour, false) as is_bot_behaviour,
        declared_bots.session_id is not null
        or coalesce(behaviour.is_bot_behaviour, false) as is_bot,
        case
            when declared_bots.session_id is not null then 'user_agent'
            when behaviour.is_bot_behaviour then 'behaviour'
        end as bot_rule,
        declared_bots.bot_name,
        sessions.last_ingested_at
    from sessions
    left join declared_bots
        on sessions.session_id = declared_bots.session_id
    left join behaviour
        on sessions.session_id = behaviour.session_id
)

select * from final
