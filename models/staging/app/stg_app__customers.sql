with

source as (
    select * from {{ source('app', 'customers') }}
),

current_rows as (
    {{ latest_cdc_rows('source', 'customer_id') }}
),

-- Privacy at the first layer: contact details become salted hashes, names and birth dates are dropped.
renamed as (
    select
        customer_id,
        {{ hash_pii('email') }} as email_hash,
        {{ hash_pii('phone') }} as phone_hash,
        country as country_code,
        created_at,
        updated_at,
        deleted_at,
        deleted_at is not null as is_deleted
    from current_rows
)

select * from renamed
