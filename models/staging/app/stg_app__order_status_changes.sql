-- Every status an order passed through, from the CDC log. A second staging model over raw orders, on
-- purpose: the order lifecycle needs the history, which the current-row model discards.
with

source as (
    select * from {{ source('app', 'orders') }}
),

changes as (
    select
        order_id,
        status as order_status,
        _changed_at as changed_at,
        _change_id as change_id
    from source
    where _op in ('insert', 'update', 'snapshot')
)

select * from changes
