-- One row per calendar day from the first order or session to the as-of date: the calendar to join on.
with

orders as (
    select * from {{ ref('int_orders_lifecycle') }}
),

sessions as (
    select * from {{ ref('int_sessions_stitched') }}
),

activity_days as (
    select placed_date as date_day from orders
    union all
    select session_date as date_day from sessions
),

bounds as (
    select
        coalesce(min(date_day), {{ as_of_date() }}) as first_day,
        greatest(coalesce(max(date_day), {{ as_of_date() }}), {{ as_of_date() }}) as last_day
    from activity_days
),

days as (
    {{ date_spine('(select first_day from bounds)', '(select last_day from bounds)') }}
)

select
    date_day,
    cast(extract(year from date_day) as {{ dbt.type_int() }}) as year_number,
    cast(extract(quarter from date_day) as {{ dbt.type_int() }}) as quarter_number,
    cast(extract(month from date_day) as {{ dbt.type_int() }}) as month_number,
    cast(extract(day from date_day) as {{ dbt.type_int() }}) as day_of_month,
    cast({{ day_of_week('date_day') }} as {{ dbt.type_int() }}) as day_of_week,
    {{ day_of_week('date_day') }} in (6, 7) as is_weekend,
    cast({{ dbt.date_trunc('week', 'date_day') }} as date) as week_start_date,
    cast({{ dbt.date_trunc('month', 'date_day') }} as date) as month_start_date,
    cast({{ dbt.date_trunc('quarter', 'date_day') }} as date) as quarter_start_date,
    cast({{ dbt.date_trunc('year', 'date_day') }} as date) as year_start_date
from days
