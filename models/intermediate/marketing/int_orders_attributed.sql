-- Last-touch attribution: each order goes to the customer's latest human session with a UTM campaign
-- that started in the 7 days (var('attribution_window_days')) before the order was placed.
-- Joins int_sessions_stitched to its verdict in int_sessions_classified, which was built from it: an
-- accepted rejoin, like fct_sessions' (docs/dbt-project.md, "Exceptions").
with

orders as (
    select * from {{ ref('int_orders_lifecycle') }}
),

sessions as (
    select * from {{ ref('int_sessions_stitched') }}
),

classified as (
    select * from {{ ref('int_sessions_classified') }}
),

campaign_touches as (
    select
        sessions.session_id,
        sessions.customer_id,
        sessions.session_started_at,
        sessions.utm_source,
        sessions.utm_medium,
        sessions.utm_campaign
    from sessions
    inner join classified
        on sessions.session_id = classified.session_id
    where
        not classified.is_bot
        and sessions.customer_id is not null
        and sessions.utm_campaign is not null
),

numbered_orders as (
    select
        *,
        case
            when not is_cancelled
                then row_number() over (
                    partition by customer_id, is_cancelled
                    order by placed_at asc, order_id asc
                )
        end as customer_order_number
    from orders
),

touches_in_window as (
    select
        numbered_orders.order_id,
        campaign_touches.session_id,
        campaign_touches.session_started_at,
        campaign_touches.utm_source,
        campaign_touches.utm_medium,
        campaign_touches.utm_campaign,
        row_number() over (
            partition by numbered_orders.order_id
            order by campaign_touches.session_started_at desc, campaign_touches.session_id desc
        ) as recency_rank
    from numbered_orders
    inner join campaign_touches
        on
            numbered_orders.customer_id = campaign_touches.customer_id
            and numbered_orders.placed_at >= campaign_touches.session_started_at
            and {{ dbt.dateadd('day', -var('attribution_window_days'), 'numbered_orders.placed_at') }}
            <= campaign_touches.session_started_at
),

last_touch as (
    select * from touches_in_window
    where recency_rank = 1
),

final as (
    select
        numbered_orders.order_id,
        numbered_orders.customer_id,
        numbered_orders.placed_at,
        numbered_orders.placed_date,
        cast(
            {{ order_value(
                'numbered_orders.gross_revenue',
                'numbered_orders.discount_amount'
            ) }} as decimal(18, 2)
        ) as order_total,
        numbered_orders.is_cancelled,
        coalesce(numbered_orders.customer_order_number = 1, false) as is_first_order,
        last_touch.session_id is not null as is_attributed,
        last_touch.session_id as attributed_session_id,
        last_touch.session_started_at as attributed_session_started_at,
        last_touch.utm_source,
        last_touch.utm_medium,
        last_touch.utm_campaign as campaign_id
    from numbered_orders
    left join last_touch
        on numbered_orders.order_id = last_touch.order_id
)

select * from final
