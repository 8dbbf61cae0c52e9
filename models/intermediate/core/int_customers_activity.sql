-- Order activity per customer, and the one definition of an active customer. Every customer an order
-- names has a row, also one whose orders were all cancelled (then without activity), so dim_customers
-- finds here every account the orders know, erased ones included.
-- A table, not incremental: is_active depends on the as-of date, so any customer's row can change on a
-- day without a change in data; all customers are one aggregate over the incremental
-- int_orders_lifecycle.
with

orders as (
    select * from {{ ref('int_orders_lifecycle') }}
),

-- Cancelled orders count in no activity measure.
activity as (
    select
        customer_id,
        min(case when not is_cancelled then placed_at end) as first_order_at,
        max(case when not is_cancelled then placed_at end) as last_order_at,
        count(case when not is_cancelled then order_id end) as order_count,
        coalesce(
            sum(case when not is_cancelled then {{ order_value('gross_revenue', 'discount_amount') }} end), 0
        ) as lifetime_value
    from orders
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
        coalesce(
            cast(last_order_at as date)
            > {{ dbt.dateadd('day', -var('active_customer_window_days'), as_of_date()) }}
            and cast(last_order_at as date) <= {{ as_of_date() }},
            false
        ) as is_active
    from activity
)

select * from final
