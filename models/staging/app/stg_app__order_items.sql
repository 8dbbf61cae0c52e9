{#- Incremental, not the folder's table: picking each line's current row scans the whole change log, the
    largest of the application's. Each build recomputes the lines with a change landed since the newest
    landing time it holds (cdc_changed_keys; every line after a new snapshot), each from its whole
    history, and replaces their rows (replace_keys): a line whose latest change is a delete, or that a
    new snapshot no longer holds, is removed. Retention (LIFECYCLE_RETENTION_DAYS) keeps each line's
    current change in raw, so a full rebuild after it holds the same current lines as this model. -#}
{{
    config(
        materialized=incremental_materialization(),
        incremental_strategy='replace_keys',
        unique_key='order_item_id',
        on_schema_change='append_new_columns',
    )
}}

{#- The log itself, where the changed keys and the latest snapshot are looked up. -#}
{%- set change_log = source('app', 'order_items') %}

with

source as (
    select * from {{ source('app', 'order_items') }}
),

-- Every change of the lines this build computes, with the line's newest landing time: the watermark.
changes as (
    {{ cdc_changes('source', 'order_item_id', change_log=change_log) }}
),

current_rows as (
    {{ latest_cdc_rows('changes', 'order_item_id', change_log=change_log, keep_removed=is_incremental()) }}
),

renamed as (
    select
        order_item_id,
        order_id,
        product_id,
        quantity,
        unit_price,
        discount_amount,
        cast(quantity * unit_price as decimal(18, 2)) as gross_amount,
        -- Null on a removed line (incremental builds only), which replace_keys deletes and does not insert.
        case when not is_removed then last_ingested_at end as last_ingested_at
    from current_rows
)

select * from renamed
