-- A table, not incremental: is_active (int_customers_activity) moves with the as-of date for every
-- customer, with or without a change in data.
with

customers as (
    select * from {{ ref('stg_app__customers') }}
),

activity as (
    select * from {{ ref('int_customers_activity') }}
),

-- Hard-deleted (erased) accounts keep a row without attributes, so their orders (cancelled ones too)
-- still join: int_customers_activity has a row for every customer an order names.
erased as (
    select activity.customer_id
    from activity
    left join customers
        on activity.customer_id = customers.customer_id
    where customers.customer_id is null
),

all_customers as (
    select
        customer_id,
        email_hash,
        phone_hash,
        country_code,
        created_at,
        is_deleted,
        false as is_erased
    from customers
    union all
    select
        customer_id,
        null as email_hash,
        null as phone_hash,
        null as country_code,
        null as created_at,
        true as is_deleted,
        true as is_erased
    from erased
),

final as (
    select
        all_customers.customer_id,
        all_customers.email_hash,
        all_customers.phone_hash,
        all_customers.country_code,
        all_customers.created_at,
        all_customers.is_deleted,
        all_customers.is_erased,
        activity.first_order_at,
        activity.last_order_at,
        coalesce(activity.order_count, 0) as order_count,
        cast(coalesce(activity.lifetime_value, 0) as decimal(18, 2)) as lifetime_value,
        coalesce(activity.is_active, false) and not all_customers.is_deleted as is_active
    from all_customers
    left join activity
        on all_customers.customer_id = activity.customer_id
)

select
    customer_id,
    email_hash,
    phone_hash,
    country_code,
    created_at,
    is_deleted,
    is_erased,
    first_order_at,
    last_order_at,
    order_count,
    lifetime_value,
    is_active
from final
