with

orders as (
    select * from {{ ref('stg_app__orders') }}
),

order_items as (
    select * from {{ ref('stg_app__order_items') }}
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
        coalesce(order_totals.item_count, 0) as item_count,
        coalesce(order_totals.unit_count, 0) as unit_count,
        coalesce(order_totals.gross_revenue, 0) as gross_revenue,
        coalesce(order_totals.discount_amount, 0) as discount_amount,
        coalesce(order_totals.gross_revenue, 0)
        - coalesce(order_totals.discount_amount, 0) as order_total,
        orders.order_status = 'cancelled' as is_cancelled
    from orders
    left join order_totals
        on orders.order_id = order_totals.order_id
)

select
    order_id,
    customer_id,
    order_status,
    placed_at,
    placed_date,
    item_count,
    unit_count,
    gross_revenue,
    discount_amount,
    order_total,
    is_cancelled
from final
