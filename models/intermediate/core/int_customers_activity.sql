-- A table, not the folder's view: its tests and several models read it, and as a view each of them
-- recomputed it from the whole history (docs/performance.md, "incremental_vs_full").
{{ config(materialized='table') }}

-- Order activity per customer, and the one definition of an active customer.
with

orders as (
    select * from {{ ref('int_orders_lifecycle') }}
),

activity as (
    select
        customer_id,
        min(placed_at) as first_order_at,
        max(placed_at) as last_order_at,
        count(*) as order_count,
        sum(gross_revenue - discount_amount) as lifetime_value
    from orders
    where not is_cancelled
    group by customer_id
),

final as (
    select
        customer_id,
        first_order_at,
        last_order_at,
        order_count,
        lifetime_value,
        -- Active: ordered within the window ending on the as-of date (doc block is_active).
        cast(last_order_at as date)
        > {{ dbt.dateadd('day', -var('active_customer_window_days'), as_of_date()) }}
        and cast(last_order_at as date) <= {{ as_of_date() }} as is_active
    from activity
)

select * from final
