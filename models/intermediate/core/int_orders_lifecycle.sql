-- A table, not the folder's view: its tests and several models read it, and as a view each of them
-- recomputed it from the whole history (docs/performance.md, "incremental_vs_full").
{{ config(materialized='table') }}

-- One row per order: its money totals and the first time it reached each status.
with

orders as (
    select * from {{ ref('stg_app__orders') }}
),

order_items as (
    select * from {{ ref('stg_app__order_items') }}
),

status_changes as (
    select * from {{ ref('stg_app__order_status_changes') }}
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

first_reached as (
    select
        order_id,
        min(case when order_status = 'paid' then changed_at end) as paid_at,
        min(case when order_status = 'shipped' then changed_at end) as shipped_at,
        min(case when order_status = 'delivered' then changed_at end) as delivered_at,
        min(case when order_status = 'cancelled' then changed_at end) as cancelled_at,
        min(case when order_status = 'returned' then changed_at end) as returned_at
    from status_changes
    group by order_id
),

final as (
    select
        orders.order_id,
        orders.customer_id,
        orders.order_status,
        orders.placed_at,
        cast(orders.placed_at as date) as placed_date,
        first_reached.paid_at,
        first_reached.shipped_at,
        first_reached.delivered_at,
        first_reached.cancelled_at,
        first_reached.returned_at,
        coalesce(order_totals.item_count, 0) as item_count,
        cast(coalesce(order_totals.unit_count, 0) as bigint) as unit_count,
        cast(coalesce(order_totals.gross_revenue, 0) as decimal(18, 2)) as gross_revenue,
        cast(coalesce(order_totals.discount_amount, 0) as decimal(18, 2)) as discount_amount,
        orders.order_status = 'cancelled' as is_cancelled
    from orders
    left join order_totals
        on orders.order_id = order_totals.order_id
    left join first_reached
        on orders.order_id = first_reached.order_id
)

select * from final
