-- Where shoppers drop out: human sessions reaching each funnel step over the whole period, and the
-- share lost between one step and the next.
with

funnel as (
    select * from {{ ref('fct_funnel_daily') }}
),

totals as (
    select
        sum(sessions) as sessions,
        sum(product_view_sessions) as product_view_sessions,
        sum(add_to_cart_sessions) as add_to_cart_sessions,
        sum(checkout_sessions) as checkout_sessions,
        sum(order_sessions) as order_sessions
    from funnel
),

steps as (
    select
        1 as step_number,
        'session' as step,
        sessions as step_sessions
    from totals
    union all
    select
        2 as step_number,
        'product_view' as step,
        product_view_sessions as step_sessions
    from totals
    union all
    select
        3 as step_number,
        'add_to_cart' as step,
        add_to_cart_sessions as step_sessions
    from totals
    union all
    select
        4 as step_number,
        'checkout' as step,
        checkout_sessions as step_sessions
    from totals
    union all
    select
        5 as step_number,
        'order' as step,
        order_sessions as step_sessions
    from totals
),

with_previous as (
    select
        *,
        first_value(step_sessions) over (order by step_number asc) as first_session_count,
        lag(step_sessions) over (order by step_number asc) as previous_step_sessions
    from steps
)

select
    step_number,
    step,
    step_sessions,
    {{ ratio('step_sessions', 'first_session_count') }} as share_of_sessions,
    1 - {{ ratio('step_sessions', 'previous_step_sessions') }} as drop_off_from_previous_step
from with_previous
order by step_number
