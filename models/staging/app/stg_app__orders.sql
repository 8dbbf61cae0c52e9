with

source as (
    select * from {{ source('app', 'orders') }}
),

-- The change log holds every status an order passed through, which the current row alone loses: the
-- first time each status was entered is carried onto every change of the order before one is picked.
-- A delete enters no status.
status_entered as (
    select
        *,
        case when _op in ('insert', 'update', 'snapshot') then status end as entered_status
    from source
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
    {{ latest_cdc_rows('first_reached', 'order_id') }}
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
        updated_at
    from current_rows
)

select * from renamed
