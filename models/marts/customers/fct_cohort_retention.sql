-- Retention by first-order month: of the customers whose first order fell in a month, how many
-- ordered again 0, 1, 2, … months later. Every cohort has a row for every month up to the as-of date.
-- Built on the core marts, which already carry the rules it needs (a customer's first order, an order's
-- total, the calendar).
with

customers as (
    select * from {{ ref('dim_customers') }}
),

orders as (
    select * from {{ ref('fct_orders') }}
),

calendar as (
    select * from {{ ref('dim_date') }}
),

cohorts as (
    select
        customer_id,
        cast({{ dbt.date_trunc('month', 'first_order_at') }} as date) as cohort_month
    from customers
    where first_order_at is not null
),

cohort_sizes as (
    select
        cohort_month,
        count(*) as cohort_customers
    from cohorts
    group by cohort_month
),

months as (
    select distinct month_start_date as activity_month
    from calendar
    where date_day <= {{ as_of_date() }}
),

cohort_months as (
    select
        cohort_sizes.cohort_month,
        cohort_sizes.cohort_customers,
        months.activity_month
    from cohort_sizes
    inner join months
        on cohort_sizes.cohort_month <= months.activity_month
),

monthly_activity as (
    select
        cohorts.cohort_month,
        cast({{ dbt.date_trunc('month', 'orders.placed_at') }} as date) as activity_month,
        count(distinct orders.customer_id) as retained_customers,
        count(*) as order_count,
        sum(orders.order_total) as revenue
    from orders
    inner join cohorts
        on orders.customer_id = cohorts.customer_id
    where not orders.is_cancelled
    group by
        cohorts.cohort_month,
        cast({{ dbt.date_trunc('month', 'orders.placed_at') }} as date)
),

final as (
    select
        cohort_months.cohort_month,
        cohort_months.activity_month,
        cohort_months.cohort_customers,
        coalesce(monthly_activity.retained_customers, 0) as retained_customers,
        coalesce(monthly_activity.order_count, 0) as order_count,
        coalesce(monthly_activity.revenue, 0) as revenue
    from cohort_months
    left join monthly_activity
        on
            cohort_months.cohort_month = monthly_activity.cohort_month
            and cohort_months.activity_month = monthly_activity.activity_month
)

select
    {{ surrogate_key(['cohort_month', 'activity_month']) }} as cohort_month_id,
    cohort_month,
    activity_month,
    -- dbt.datediff renders one long line.
    cast({{ dbt.datediff('cohort_month', 'activity_month', 'month') }} as {{ dbt.type_int() }}) as months_since_first_order,  -- noqa: LT05
    cast(cohort_customers as {{ dbt.type_bigint() }}) as cohort_customers,
    cast(retained_customers as {{ dbt.type_bigint() }}) as retained_customers,
    {{ ratio('retained_customers', 'cohort_customers') }} as retention_rate,
    cast(order_count as {{ dbt.type_bigint() }}) as order_count,
    cast(revenue as decimal(18, 2)) as revenue
from final
