-- A table, not the folder's view: its tests and several models read it, and as a view each of them
-- recomputed it from the whole history (docs/performance.md, "incremental_vs_full").
{{ config(materialized='table') }}

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
