-- A table, not the folder's view: its tests and several models read it, and as a view each of them
-- recomputed it from the whole history (docs/performance.md, "incremental_vs_full").
{{ config(materialized='table') }}

with

source as (
    select * from {{ source('app', 'orders') }}
),

current_rows as (
    {{ latest_cdc_rows('source', 'order_id') }}
),

renamed as (
    select
        order_id,
        customer_id,
        shipping_address_id,
        status as order_status,
        placed_at,
        updated_at
    from current_rows
)

select * from renamed
