{#- Incremental, not the folder's table: an order changes for weeks after it is placed (payment, shipping,
    cancellation, return), so no window of placement dates finds the changed orders; the change log
    does. Each build recomputes the orders with a change landed since the newest landing time it holds
    (cdc_changed_keys; every order after a new snapshot), each from its whole history, so the first
    time each status was reached stays right, and replaces their rows (replace_keys): an order whose
    latest change is a delete, or that a new snapshot no longer holds, is removed. Retention keeps every
    version of an order (meta retention: every_version), so a full rebuild after it gives the same rows. -#}
{{
    config(
        materialized=incremental_materialization(),
        incremental_strategy='replace_keys',
        unique_key='order_id',
        on_schema_change='append_new_columns',
    )
}}

{#- The log itself, where the changed keys and the latest snapshot are looked up. -#}
{%- set change_log = source('app', 'orders') %}

with

source as (
    select * from {{ source('app', 'orders') }}
),

-- Every change of the orders this build computes, with the order's newest landing time: the watermark.
changes as (
    {{ cdc_changes('source', 'order_id', change_log=change_log) }}
),

-- The change log holds every status an order passed through, which the current row alone loses: the
-- first time each status was entered is carried onto every change of the order before one is picked.
-- A delete enters no status.
status_entered as (
    select
        *,
        case when _op in ('insert', 'update', 'snapshot') then status end as entered_status
    from changes
),

first_reached as (
    select
        *,
        min(case when entered_status = 'paid' then _changed_at end) over order_history as paid_at,
        min(case when entered_status = 'shipped' then _changed_at end) over order_history as shipped_at,
        min(case when entered_status = 'delivered' then _changed_at end) over order_history as delivered_at,
        min(case when entered_status = 'cancelled' then _changed_at end) over order_history as cancelled_at,
        min(case when entered_status = 'returned' then _changed_at end) over order_history as returned_at
    from status_entered
    window order_history as (partition by order_id)
),

current_rows as (
    {{ latest_cdc_rows('first_reached', 'order_id', change_log=change_log, keep_removed=is_incremental()) }}
),

renamed as (
    select
        order_id,
        customer_id,
        shipping_address_id,
        status as order_status,
        placed_at,
        paid_at,
        shipped_at,
        delivered_at,
        cancelled_at,
        returned_at,
        updated_at,
        -- Null on a removed order (incremental builds only), which replace_keys deletes and does not insert.
        case when not is_removed then last_ingested_at end as last_ingested_at
    from current_rows
)

select * from renamed
