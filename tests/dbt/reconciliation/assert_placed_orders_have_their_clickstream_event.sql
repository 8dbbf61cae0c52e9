-- Accuracy across sources: every order the shop's database records was placed in a browser or app session
-- whose clickstream has an order_placed event for it. Clickstream loses a little (blocked trackers, lost
-- devices), so the rule is statistical: the number of new orders without their event must be plausible
-- under the share of the previous 28 days: it fails when at least that many misses would happen with a
-- probability below 0.00135 (exact binomial tail; the one-sided probability of a three-sigma event). The
-- history's share is taken as at least 3 misses in it (the "rule of three", the 95 % upper bound of a
-- share never seen). Orders placed within the hour before the newest event are not judged yet:
-- clickstream files arrive hourly.
with

orders as (
    select * from {{ ref('fct_orders') }}
),

events as (
    select * from {{ ref('stg_events__clickstream') }}
),

placed_events as (
    select distinct order_id
    from events
    where event_type = 'order_placed' and order_id is not null
),

clickstream_until as (
    select max(event_time) - interval 1 hour as judged_until
    from events
),

matched as (
    select
        orders.order_id,
        orders.placed_at,
        orders.placed_at > {{ audit_since() }} as is_new,
        placed_events.order_id is null as is_missing_event
    from orders
    cross join clickstream_until
    left join placed_events
        on orders.order_id = placed_events.order_id
    where
        orders.placed_at <= clickstream_until.judged_until
        and orders.placed_at > {{ audit_since() }} - interval 28 day
),

shares as (
    select
        count(*) filter (where is_new) as new_orders,
        count(*) filter (where is_new and is_missing_event) as new_missing,
        count(*) filter (where not is_new) as history_orders,
        count(*) filter (where not is_new and is_missing_event) as history_missing
    from matched
),

limits as (
    select
        new_orders,
        new_missing,
        greatest(history_missing, 3) / history_orders as history_missing_share
    from shares
    where new_orders > 0 and history_orders > 0
),

judged as (
    select
        *,
        {{ binomial_upper_tail('new_missing', 'new_orders', 'least(history_missing_share, 0.999)') }}
            as probability
    from limits
)

select * from judged
where probability < 0.00135
