-- Net revenue and orders by calendar month: the finance team's first question.
select
    date_trunc('month', date_day) as month_start,
    sum(order_count) as order_count,
    sum(gross_revenue) as gross_revenue,
    sum(refund_amount) as refund_amount,
    sum(net_revenue) as net_revenue
from {{ ref('fct_revenue_daily') }}
group by date_trunc('month', date_day)
order by month_start
