{#- Incremental, not the folder's table: order lines are the largest order fact. Lines of orders
    placed since the newest loaded order less var('lookback_days') are rebuilt, which picks up late
    lines and cancellations (an unpaid order is cancelled within a day).
    Reads the order lines beside int_orders_lifecycle, which summed them per order: an accepted rejoin
    (docs/dbt-project.md, "Exceptions"), since this fact keeps the line grain the order model gives up. -#}
{{
    config(
        materialized=incremental_materialization(),
        incremental_strategy='delete+insert',
        unique_key='order_item_id',
        on_schema_change='append_new_columns',
    )
}}

with

order_items as (
    select * from {{ ref('stg_app__order_items') }}
),

orders as (
    select * from {{ ref('int_orders_lifecycle') }}
),

recent_orders as (
    select * from orders
    {% if is_incremental() %}
        where
            placed_at >= (
                select {{ dbt.dateadd('day', -var('lookback_days'), 'max(placed_at)') }}
                from {{ this }}
            )
    {% endif %}
)

select
    order_items.order_item_id,
    order_items.order_id,
    recent_orders.customer_id,
    order_items.product_id,
    recent_orders.placed_at,
    recent_orders.placed_date,
    recent_orders.is_cancelled,
    cast(order_items.quantity as {{ dbt.type_bigint() }}) as quantity,
    cast(order_items.unit_price as decimal(18, 2)) as unit_price,
    cast(order_items.gross_amount as decimal(18, 2)) as gross_amount,
    cast(order_items.discount_amount as decimal(18, 2)) as discount_amount,
    cast(
        {{ order_value('order_items.gross_amount', 'order_items.discount_amount') }} as decimal(18, 2)
    ) as net_amount
from order_items
inner join recent_orders
    on order_items.order_id = recent_orders.order_id
