-- Recency, frequency and monetary scores per customer as of the run's date, and the segment they imply.
-- Feeds the reverse-ETL customer segments export.
with

customers as (
    select * from {{ ref('dim_customers') }}
),

buyers as (
    select
        customer_id,
        last_order_at,
        order_count,
        lifetime_value,
        is_active,
        greatest(
            {{ dbt.datediff('cast(last_order_at as date)', as_of_date(), 'day') }},
            0
        ) as recency_days
    from customers
    where
        order_count > 0
        and not is_deleted
),

scored as (
    select
        *,
        case
            when recency_days <= 30 then 5
            when recency_days <= 60 then 4
            when recency_days <= 90 then 3
            when recency_days <= 180 then 2
            else 1
        end as recency_score,
        case
            when order_count >= 6 then 5
            when order_count >= 4 then 4
            when order_count = 3 then 3
            when order_count = 2 then 2
            else 1
        end as frequency_score,
        ntile(5) over (order by lifetime_value asc, customer_id asc) as monetary_score
    from buyers
),

segmented as (
    select
        *,
        case
            when recency_score >= 4 and frequency_score >= 4 then 'champions'
            when recency_score >= 3 and frequency_score >= 3 then 'loyal'
            when recency_score >= 3 and frequency_score = 2 then 'potential_loyalist'
            when recency_score >= 4 and frequency_score = 1 then 'new_customer'
            when recency_score = 3 and frequency_score = 1 then 'needs_attention'
            when recency_score <= 2 and frequency_score >= 3 then 'at_risk'
            else 'hibernating'
        end as rfm_segment
    from scored
)

select
    customer_id,
    {{ as_of_date() }} as as_of_date,
    last_order_at,
    cast(recency_days as {{ dbt.type_bigint() }}) as recency_days,
    cast(order_count as {{ dbt.type_bigint() }}) as frequency,
    cast(lifetime_value as decimal(18, 2)) as monetary,
    cast(recency_score as {{ dbt.type_int() }}) as recency_score,
    cast(frequency_score as {{ dbt.type_int() }}) as frequency_score,
    cast(monetary_score as {{ dbt.type_int() }}) as monetary_score,
    {{ dbt.concat(['recency_score', 'frequency_score', 'monetary_score']) }} as rfm_score,
    rfm_segment,
    is_active
from segmented
