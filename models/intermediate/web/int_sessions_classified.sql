-- A table, not the folder's view: several tests and marts read it, and as a view each of them recomputed
-- the whole window functions (docs/performance.md, "incremental_vs_full").
{{ config(materialized='table') }}

-- One row per session with its bot verdict: a crawler's user agent (seed bot_user_agents)
-- or bot-like behaviour.
with

sessions as (
    select * from {{ ref('int_sessions_stitched') }}
),

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
        event_count >= {{ var('bot_min_events', 6) }}
        and median_gap_seconds <= {{ var('bot_max_median_gap_seconds', 3) }}
        and max_gap_seconds <= {{ var('bot_max_gap_seconds', 5) }}
        and add_to_cart_count = 0
        and checkout_started_count = 0
        and order_placed_count = 0
        and identified_customer_id is null as is_bot_behaviour
    from sessions
),

final as (
    select
        sessions.session_id,
        declared_bots.session_id is not null as is_declared_bot,
        coalesce(behaviour.is_bot_behaviour, false) as is_bot_behaviour,
        declared_bots.session_id is not null
        or coalesce(behaviour.is_bot_behaviour, false) as is_bot,
        case
            when declared_bots.session_id is not null then 'user_agent'
            when behaviour.is_bot_behaviour then 'behaviour'
        end as bot_rule,
        declared_bots.bot_name
    from sessions
    left join declared_bots
        on sessions.session_id = declared_bots.session_id
    left join behaviour
        on sessions.session_id = behaviour.session_id
)

select * from final
