-- Order revenue (after discounts) by marketing channel and month, last-touch attributed; what no
-- campaign touched in the 7 days before the order is `unattributed`.
with

marketing_daily as (
    select * from {{ ref('fct_marketing_daily') }}
),

revenue_daily as (
    select * from {{ ref('fct_revenue_daily') }}
),

attributed as (
    select
        cast({{ dbt.date_trunc('month', 'date_day') }} as date) as month_start,
        channel,
        sum(attributed_orders) as order_count,
        sum(attributed_revenue) as revenue
    from marketing_daily
    group by
        cast({{ dbt.date_trunc('month', 'date_day') }} as date),
        channel
),

total as (
    select
        cast({{ dbt.date_trunc('month', 'date_day') }} as date) as month_start,
        sum(order_count) as order_count,
        sum({{ order_value('gross_revenue', 'discount_amount') }}) as revenue
    from revenue_daily
    group by cast({{ dbt.date_trunc('month', 'date_day') }} as date)
),

unattributed as (
    select
        total.month_start,
        'unattributed' as channel,
        total.order_count - coalesce(sum(attributed.order_count), 0) as order_count,
        total.revenue - coalesce(sum(attributed.revenue), 0) as revenue
    from total
    left join attributed
        on total.month_start = attributed.month_start
    group by
        total.month_start,
        total.order_count,
        total.revenue
),

by_channel as (
    select * from attributed
    union all
    select * from unattributed
)

select
    month_start,
    channel,
    order_count,
    revenue,
    revenue / sum(revenue) over (partition by month_start) as revenue_share
from by_channel
order by
    month_start asc,
    revenue desc
