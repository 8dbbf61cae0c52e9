-- Gross revenue by day equals the sum over the orders of that day: the daily mart loses or doubles nothing.
with

daily as (
    select
        date_day,
        gross_revenue,
        order_count
    from {{ ref('fct_revenue_daily') }}
),

orders as (
    select
        placed_date as date_day,
        sum(gross_revenue) as gross_revenue,
        count(*) as order_count
    from {{ ref('fct_orders') }}
    where not is_cancelled
    group by placed_date
)

select
    daily.date_day,
    daily.gross_revenue,
    orders.gross_revenue as orders_gross_revenue
from daily
left join orders
    on daily.date_day = orders.date_day
where
    daily.gross_revenue != coalesce(orders.gross_revenue, 0)
    or daily.order_count != coalesce(orders.order_count, 0)
