-- The shopping funnel per day: human sessions reaching each step, and the rates between steps.
with

sessions as (
    select * from {{ ref('fct_sessions') }}
),

daily as (
    select
        session_date as date_day,
        count(*) as sessions,
        sum(case when has_product_view then 1 else 0 end) as product_view_sessions,
        sum(case when has_add_to_cart then 1 else 0 end) as add_to_cart_sessions,
        sum(case when has_checkout then 1 else 0 end) as checkout_sessions,
        sum(case when is_converted then 1 else 0 end) as order_sessions
    from sessions
    group by session_date
)

select
    date_day,
    cast(sessions as {{ dbt.type_bigint() }}) as sessions,
    cast(product_view_sessions as {{ dbt.type_bigint() }}) as product_view_sessions,
    cast(add_to_cart_sessions as {{ dbt.type_bigint() }}) as add_to_cart_sessions,
    cast(checkout_sessions as {{ dbt.type_bigint() }}) as checkout_sessions,
    cast(order_sessions as {{ dbt.type_bigint() }}) as order_sessions,
    {{ ratio('product_view_sessions', 'sessions') }} as product_view_rate,
    {{ ratio('add_to_cart_sessions', 'sessions') }} as add_to_cart_rate,
    {{ ratio('checkout_sessions', 'sessions') }} as checkout_rate,
    {{ ratio('order_sessions', 'sessions') }} as conversion_rate,
    {{ ratio('order_sessions', 'checkout_sessions') }} as checkout_completion_rate
from daily
