-- Accuracy across sources: the payments captured for an order add up to the order's total (gross
-- revenue minus discounts), to the cent, once the order is paid or beyond; before that nothing may be
-- captured. A refund is a payment row of its own (status refunded, docs/sources.md) beside the capture,
-- which stays captured: refunds are judged by revenue, not here. Judged on the orders placed after the
-- last publication (audit_since).
with

orders as (
    select * from {{ ref('fct_orders') }}
    where placed_at > {{ audit_since() }}
),

payments as (
    select * from {{ ref('stg_app__payments') }}
),

captured as (
    select
        order_id,
        sum(amount) as captured_amount
    from payments
    where payment_status = 'captured'
    group by order_id
),

compared as (
    select
        orders.order_id,
        orders.order_status,
        orders.order_total,
        coalesce(captured.captured_amount, 0) as captured_amount,
        orders.paid_at is not null as is_paid
    from orders
    left join captured
        on orders.order_id = captured.order_id
    where not orders.is_cancelled
)

select * from compared
where
    (is_paid and abs(captured_amount - order_total) > 0.01)
    or (not is_paid and captured_amount > 0)
