-- A table, not incremental: a projection of int_orders_lifecycle, which does the incremental work;
-- an incremental mart would need a watermark column in its public contract.
with

orders as (
    select * from {{ ref('int_orders_lifecycle') }}
)

select
    order_id,
    customer_id,
    order_status,
    placed_at,
    placed_date,
    paid_at,
    shipped_at,
    delivered_at,
    cancelled_at,
    returned_at,
    item_count,
    unit_count,
    gross_revenue,
    discount_amount,
    cast({{ order_value('gross_revenue', 'discount_amount') }} as decimal(18, 2)) as order_total,
    is_cancelled
from orders
