with

source as (
    select * from {{ source('app', 'order_items') }}
),

current_rows as (
    {{ latest_cdc_rows('source', 'order_item_id') }}
),

renamed as (
    select
        order_item_id,
        order_id,
        product_id,
        quantity,
        unit_price,
        discount_amount,
        cast(quantity * unit_price as decimal(18, 2)) as gross_amount
    from current_rows
)

select * from renamed
