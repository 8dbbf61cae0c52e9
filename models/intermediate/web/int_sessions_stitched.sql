{#- Incremental, not the folder's table: sessionising every event on every run grows with history.
    The unit of work is one visitor (anonymous_id): each visitor with an event landed since the last
    build (landed_since_last_build) is re-sessionised from their whole history and
    replaces all their rows (delete+insert on anonymous_id). So a late event can extend, split or
    bridge sessions and re-stitch earlier ones, and nothing depends on how late it arrived. -#}
{{
    config(
        materialized=incremental_materialization(),
        incremental_strategy='delete+insert',
        unique_key='anonymous_id',
        on_schema_change='append_new_columns',
    )
}}

with

events as (
    select * from {{ ref('stg_events__clickstream') }}
),

{% if is_incremental() %}
    changed_visitors as (
        {{ changed_keys(
            ref('stg_events__clickstream'), 'anonymous_id', 'ingested_at', 'last_ingested_at'
        ) }}
    ),
{% endif %}

visitor_events as (
    select events.*
    from events
    {% if is_incremental() %}
        inner join changed_visitors
            on events.anonymous_id = changed_visitors.anonymous_id
    {% endif %}
),

with_previous as (
    select
        *,
        lag(event_time) over (
            partition by anonymous_id
            order by event_time asc, event_id asc
        ) as previous_event_at
    from visitor_events
),

with_gap as (
    select
        *,
        -- dbt.datediff renders one long line (noqa), an expression of several terms on some engines (so the
        -- parentheses); milliseconds, because bots click 1–3 s apart.
        ({{ dbt.datediff('previous_event_at', 'event_time', 'millisecond') }}) / 1000.0 as gap_seconds  -- noqa: LT05
    from with_previous
),

-- A gap of more than var('session_timeout_minutes') (30) without an event ends a session.
flagged as (
    select
        *,
        case
            when previous_event_at is null then 1
            when gap_seconds > 60 * {{ var('session_timeout_minutes') }} then 1
            else 0
        end as is_session_start
    from with_gap
),

numbered as (
    select
        *,
        sum(is_session_start) over (
            partition by anonymous_id
            order by event_time asc, event_id asc
            rows between unbounded preceding and current row
        ) as visit_number
    from flagged
),

sessions as (
    select
        anonymous_id,
        visit_number,
        min(event_time) as session_started_at,
        max(event_time) as session_ended_at,
        -- The simulator logs a visitor into at most one account per session.
        max(customer_id) as identified_customer_id,
        max(case when is_session_start = 1 then page_url end) as landing_page_url,
        max(case when is_session_start = 1 then utm_source end) as utm_source,
        max(case when is_session_start = 1 then utm_medium end) as utm_medium,
        max(case when is_session_start = 1 then utm_campaign end) as utm_campaign,
        max(case when is_session_start = 1 then user_agent end) as user_agent,
        max(case when is_session_start = 1 then device_type end) as device_type,
        max(case when is_session_start = 1 then platform end) as platform,
        count(*) as event_count,
        sum(case when event_type = 'page_view' then 1 else 0 end) as page_view_count,
        sum(case when event_type = 'product_view' then 1 else 0 end) as product_view_count,
        sum(case when event_type = 'search' then 1 else 0 end) as search_count,
        sum(case when event_type = 'add_to_cart' then 1 else 0 end) as add_to_cart_count,
        sum(case when event_type = 'checkout_started' then 1 else 0 end) as checkout_started_count,
        sum(case when event_type = 'order_placed' then 1 else 0 end) as order_placed_count,
        max(order_id) as order_id,
        -- The gap before a session's first event is the pause between sessions, not inside one.
        {{ median('case when is_session_start = 0 then gap_seconds end') }} as median_gap_seconds,
        max(case when is_session_start = 0 then gap_seconds end) as max_gap_seconds,
        max(ingested_at) as last_ingested_at
    from numbered
    group by
        anonymous_id,
        visit_number
),

-- Stitching: a session belongs to the customer seen in it; a visitor's earlier anonymous sessions
-- belong to the customer of their next identified session.
stitched as (
    select
        *,
        coalesce(
            identified_customer_id,
            {{ first_non_null('identified_customer_id') }} over (
                partition by anonymous_id
                order by session_started_at asc
                rows between current row and unbounded following
            )
        ) as customer_id
    from sessions
),

final as (
    select
        -- surrogate_key and dbt.datediff render one long line each (noqa: LT05).
        {{ surrogate_key(['anonymous_id', 'session_started_at']) }} as session_id,  -- noqa: LT05
        anonymous_id,
        cast(visit_number as {{ dbt.type_int() }}) as visit_number,
        customer_id,
        identified_customer_id,
        identified_customer_id is null and customer_id is not null as is_stitched,
        session_started_at,
        session_ended_at,
        cast(session_started_at as date) as session_date,
        {{ dbt.datediff('session_started_at', 'session_ended_at', 'second') }} as duration_seconds,  -- noqa: LT05
        landing_page_url,
        utm_source,
        utm_medium,
        utm_campaign,
        user_agent,
        device_type,
        platform,
        event_count,
        page_view_count,
        product_view_count,
        search_count,
        add_to_cart_count,
        checkout_started_count,
        order_placed_count,
        order_id,
        median_gap_seconds,
        max_gap_seconds,
        last_ingested_at
    from stitched
)

select * from final
