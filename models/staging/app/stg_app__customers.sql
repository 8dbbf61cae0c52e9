-- The folder's table, not incremental like the orders' models: accounts are few beside orders and
-- their lines, and an account's row also depends on the erasure log (a newly erased customer leaves
-- without a change in the application's log), so one scan of its change log stays cheap and simple.
with

source as (
    select * from {{ source('app', 'customers') }}
),

erasure_requests as (
    select * from {{ source('privacy', 'erasure_requests') }}
),

current_rows as (
    {{ latest_cdc_rows('source', 'customer_id') }}
),

-- A customer who asked to be forgotten is gone, as if the application had deleted the account (their
-- orders keep the key, so revenue does not change; dim_customers keeps a row without attributes).
not_erased as (
    select *
    from current_rows
    where customer_id not in (select erasure_requests.customer_id from erasure_requests)
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
    from not_erased
)

select * from renamed
