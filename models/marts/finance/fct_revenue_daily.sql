-- Revenue by event date: orders count on the day they were placed, refunds on the day they were paid out.
with

orders as (
    select * from {{ ref('fct_orders') }}
),

payments as (
    select * from {{ ref('stg_app__payments') }}
),

placed as (
    select
        placed_date as date_day,
        count(*) as order_count,
        sum(gross_revenue) as gross_revenue,
        sum(discount_amount) as discount_amount
    from orders
    where not is_cancelled
    group by placed_date
),

refunds as (
    select
        cast(created_at as date) as date_day,
        sum(amount) as refund_amount
    from payments
    where payment_status = 'refunded'
    group by cast(created_at as date)
),

bounds as (
    select
        least(min(placed.date_day), min(refunds.date_day)) as first_day,
        greatest(max(placed.date_day), max(refunds.date_day)) as last_day
    from placed
    full outer join refunds
        on placed.date_day = refunds.date_day
),

days as (
    {{ date_spine('(select first_day from bounds)', '(select last_day from bounds)') }}
),

final as (
    select
        days.date_day,
        coalesce(placed.order_count, 0) as order_count,
        cast(coalesce(placed.gross_revenue, 0) as decimal(18, 2)) as gross_revenue,
        cast(coalesce(placed.discount_amount, 0) as decimal(18, 2)) as discount_amount,
        cast(coalesce(refunds.refund_amount, 0) as decimal(18, 2)) as refund_amount
    from days
    left join placed
        on days.date_day = placed.date_day
    left join refunds
        on days.date_day = refunds.date_day
)

select
    date_day,
    order_count,
    gross_revenue,
    discount_amount,
    refund_amount,
    cast(
        {{ net_revenue('gross_revenue', 'discount_amount', 'refund_amount') }} as decimal(18, 2)
    ) as net_revenue
from final
