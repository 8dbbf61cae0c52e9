{#- Incremental, not the folder's table, by the rule of stg_app__order_items: each build recomputes the
    payments with a change landed since the newest landing time it holds (every payment after a new
    snapshot), each from its whole history, and replaces their rows (replace_keys); a deleted payment is
    removed. Retention keeps each payment's current change in raw, so a full rebuild after it holds
    the same current payments. -#}
{{
    config(
        materialized=incremental_materialization(),
        incremental_strategy='replace_keys',
        unique_key='payment_id',
        on_schema_change='append_new_columns',
    )
}}

{#- The log itself, where the changed keys and the latest snapshot are looked up. -#}
{%- set change_log = source('app', 'payments') %}

with

source as (
    select * from {{ source('app', 'payments') }}
),

-- Every change of the payments this build computes, with the payment's newest landing time: the watermark.
changes as (
    {{ cdc_changes('source', 'payment_id', change_log=change_log) }}
),

current_rows as (
    {{ latest_cdc_rows('changes', 'payment_id', change_log=change_log, keep_removed=is_incremental()) }}
),

renamed as (
    select
        payment_id,
        order_id,
        method as payment_method,
        status as payment_status,
        amount,
        created_at,
        -- Null on a removed payment (incremental builds only): replace_keys deletes it and does not insert.
        case when not is_removed then last_ingested_at end as last_ingested_at
    from current_rows
)

select * from renamed
