with

source as (
    select * from {{ source('app', 'products') }}
),

current_rows as (
    {{ latest_cdc_rows('source', 'product_id') }}
),

renamed as (
    select
        product_id,
        category_id,
        sku,
        name as product_name,
        price,
        is_active = 1 as is_active,
        created_at,
        updated_at
    from current_rows
)

select * from renamed
