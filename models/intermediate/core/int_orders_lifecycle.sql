-- One row per order: its money totals and the first time it reached each status (from staging, which
-- reads it off the application's change log).
with

orders as (
    select * from {{ ref('stg_app__orders') }}
),

order_items as (
    select * from {{ ref('stg_app__order_items') }}
),

order_statuses as (
    select * from {{ ref('order_statuses') }}
),

order_totals as (
    select
        order_id,
        count(*) as item_count,
        sum(quantity) as unit_count,
        sum(gross_amount) as gross_revenue,
        sum(discount_amount) as discount_amount
    from order_items
    group by order_id
),

final as (
    select
        orders.order_id,
        orders.customer_id,
        orders.order_status,
        orders.placed_at,
        cast(orders.placed_at as date) as placed_date,
        orders.paid_at,
        orders.shipped_at,
        orders.delivered_at,
        orders.cancelled_at,
        orders.returned_at,
        coalesce(order_totals.item_count, 0) as item_count,
        cast(coalesce(order_totals.unit_count, 0) as bigint) as unit_count,
        cast(coalesce(order_totals.gross_revenue, 0) as decimal(18, 2)) as gross_revenue,
        cast(coalesce(order_totals.discount_amount, 0) as decimal(18, 2)) as discount_amount,
        coalesce(order_statuses.is_cancelled, false) as is_cancelled
    from orders
    left join order_totals
        on orders.order_id = order_totals.order_id
    left join order_statuses
        on orders.order_status = order_statuses.order_status
)

select * from final
