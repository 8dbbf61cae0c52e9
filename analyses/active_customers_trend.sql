-- Active customers at the end of each week: customers with a non-cancelled order in the 90 days
-- (var('active_customer_window_days')) ending that day. Deletions are not historised in the marts,
-- so this counts every account that ordered; dim_customers.is_active is the current, exact figure.
with

orders as (
    select * from {{ ref('fct_orders') }}
),

calendar as (
    select * from {{ ref('dim_date') }}
),

week_ends as (
    select max(date_day) as date_day
    from calendar
    group by week_start_date
)

select
    week_ends.date_day,
    count(distinct orders.customer_id) as active_customers
from week_ends
left join orders
    on
        week_ends.date_day >= orders.placed_date
        and {{ dbt.dateadd('day', -var('active_customer_window_days'), 'week_ends.date_day') }}
        < orders.placed_date
        and not orders.is_cancelled
group by week_ends.date_day
order by week_ends.date_day
