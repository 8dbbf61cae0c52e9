-- Net revenue and orders by calendar month: the finance team's first question.
with

revenue_daily as (
    select * from {{ ref('fct_revenue_daily') }}
)

select
    cast({{ dbt.date_trunc('month', 'date_day') }} as date) as month_start,
    sum(order_count) as order_count,
    sum(gross_revenue) as gross_revenue,
    sum(discount_amount) as discount_amount,
    sum(refund_amount) as refund_amount,
    sum(net_revenue) as net_revenue
from revenue_daily
group by cast({{ dbt.date_trunc('month', 'date_day') }} as date)
order by month_start
