with

source as (
    select * from {{ source('app', 'payments') }}
),

current_rows as (
    {{ latest_cdc_rows('source', 'payment_id') }}
),

renamed as (
    select
        payment_id,
        order_id,
        method as payment_method,
        status as payment_status,
        amount,
        created_at
    from current_rows
)

select * from renamed
