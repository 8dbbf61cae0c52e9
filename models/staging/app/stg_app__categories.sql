with

source as (
    select * from {{ source('app', 'categories') }}
),

current_rows as (
    {{ latest_cdc_rows('source', 'category_id') }}
),

renamed as (
    select
        category_id,
        name as category_name,
        updated_at
    from current_rows
)

select * from renamed
