-- Accuracy across sources: every order the shop's database records was placed in a browser or app session
-- whose clickstream has an order_placed event for it. Clickstream loses a little (blocked trackers, lost
-- devices, a file that never arrives), so the rule is statistical: the number of new orders without their
-- event must be plausible under the share of the previous 28 days. It fails when at least that many misses
-- would happen with a probability below 0.00135 (the one-sided probability of a three-sigma event).
-- Misses come in clumps: clickstream is delivered in hourly files, and a lost or late file takes every
-- order of its hour. So the tail is the binomial one over the effective sample (misses and orders divided
-- by a design effect, as a quasi-binomial model does), the design effect being the larger of the history's
-- overdispersion (Pearson's chi-square of its days over their degrees of freedom) and the history's orders
-- per hour with orders (the clump a lost file makes; a history with too few misses cannot show it). The
-- history's share is taken as at least 3 misses in it (the "rule of three", the 95 % upper bound of a share
-- never seen). Orders placed within
-- the hour before the newest event are not judged yet: clickstream files arrive hourly.
with

orders as (
    select * from {{ ref('fct_orders') }}
),

events as (
    select * from {{ ref('stg_events__clickstream') }}
),

-- The events read a second time, for their times only: DuckDB materializes a CTE that is read twice,
-- which would copy every event of the history.
event_times as (
    select event_time from {{ ref('stg_events__clickstream') }}
),

placed_events as (
    select distinct order_id
    from events
    where event_type = 'order_placed' and order_id is not null
),

clickstream_until as (
    select max(event_time) - interval 1 hour as judged_until
    from event_times
),

matched as (
    select
        orders.order_id,
        orders.placed_at,
        cast(orders.placed_at as date) as placed_date,
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

history_share as (
    select least(greatest(history_missing, 3) / history_orders, 0.999) as missing_share
    from shares
    where history_orders > 0
),

history_days as (
    select
        count(*) as orders,
        count(*) filter (where is_missing_event) as missing
    from matched
    where not is_new
    group by placed_date
),

orders_per_file as (
    select count(*) / count(distinct date_trunc('hour', placed_at)) as orders
    from matched
    where not is_new
),

dispersion as (
    select
        greatest(
            1.0,
            (select orders_per_file.orders from orders_per_file),
            coalesce(
                sum(
                    power(history_days.missing - history_days.orders * history_share.missing_share, 2)
                    / (history_days.orders * history_share.missing_share * (1 - history_share.missing_share))
                ) / nullif(count(*) - 1, 0),
                1.0
            )
        ) as factor
    from history_days
    cross join history_share
),

limits as (
    select
        shares.new_orders,
        shares.new_missing,
        history_share.missing_share as history_missing_share,
        dispersion.factor as dispersion,
        shares.new_missing / dispersion.factor as effective_missing,
        shares.new_orders / dispersion.factor as effective_orders
    from shares
    cross join history_share
    cross join dispersion
    where shares.new_orders > 0
),

judged as (
    select
        *,
        {{ binomial_upper_tail('floor(effective_missing)', 'effective_orders', 'history_missing_share') }}
            as probability
    from limits
)

select * from judged
where probability < 0.00135
