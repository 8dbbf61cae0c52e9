{#- One row per order: its money totals and the first time it reached each status (from staging, which
    reads it off the application's change log).
    Incremental, not the folder's table: orders change for weeks after they are placed, so each build
    recomputes the changed orders, whatever their placement date, and replaces their rows (replace_keys):
    an order whose staged row or one of whose staged lines landed since the newest landing time this
    model holds (their last_ingested_at), and the two changes those watermarks cannot show, because
    staging removes the row: an order staging no longer holds (deleted: removed here too) and an order
    that lost a line (deleted, or moved to another order: its held line count differs from the staged
    one). Those two checks compare keys and counts over all orders; the totals, joins and writes cover
    the changed orders only, and at the sizes measured (docs/performance.md, "incremental_vs_full") cost
    more than the rebuild they replace. Staging keeps the same rows after retention, so this model does
    too. -#}
{{
    config(
        materialized=incremental_materialization(),
        incremental_strategy='replace_keys',
        unique_key='order_id',
        on_schema_change='append_new_columns',
    )
}}

with

orders as (
    select * from {{ ref('stg_app__orders') }}
),

order_items as (
    select * from {{ ref('stg_app__order_items') }}
),

order_statuses as (
    select * from {{ ref('order_statuses') }}
),

{% if is_incremental() %}
    held as (
        select * from {{ this }}
    ),

    -- Staging read again for each lookup below, the columns it needs only: DuckDB materializes a CTE
    -- that is read more than once, which would copy the staged orders and lines on every build.
    order_landings as (
        select order_id, last_ingested_at from {{ ref('stg_app__orders') }}
    ),

    line_landings as (
        select order_id, last_ingested_at from {{ ref('stg_app__order_items') }}
    ),

    staged_orders as (
        select order_id from {{ ref('stg_app__orders') }}
    ),

    staged_lines as (
        select order_id from {{ ref('stg_app__order_items') }}
    ),

    staged_line_counts as (
        select
            order_id,
            count(*) as item_count
        from staged_lines
        group by order_id
    ),

    changed_orders as (
        select order_landings.order_id
        from order_landings
        where {{ landed_since_last_build('order_landings.last_ingested_at', 'last_ingested_at') }}
        union distinct
        select line_landings.order_id
        from line_landings
        where {{ landed_since_last_build('line_landings.last_ingested_at', 'last_ingested_at') }}
        union distinct
        select held.order_id
        from held
        left join staged_orders
            on held.order_id = staged_orders.order_id
        left join staged_line_counts
            on held.order_id = staged_line_counts.order_id
        where
            staged_orders.order_id is null
            or held.item_count != coalesce(staged_line_counts.item_count, 0)
    ),
{% endif %}

-- The orders this build computes: all of them, or the changed ones.
order_keys as (
    select order_id from {{ 'changed_orders' if is_incremental() else 'orders' }}
),

order_totals as (
    select
        order_items.order_id,
        count(*) as item_count,
        sum(order_items.quantity) as unit_count,
        sum(order_items.gross_amount) as gross_revenue,
        sum(order_items.discount_amount) as discount_amount,
        max(order_items.last_ingested_at) as last_ingested_at
    from order_items
    {% if is_incremental() %}
        where order_items.order_id in (select order_keys.order_id from order_keys)
    {% endif %}
    group by order_items.order_id
),

final as (
    select
        order_keys.order_id,
        orders.customer_id,
        orders.order_status,
        orders.placed_at,
        cast(orders.placed_at as date) as placed_date,
        orders.paid_at,
        orders.shipped_at,
        orders.delivered_at,
        orders.cancelled_at,
        orders.returned_at,
        coalesce(order_totals.item_count, 0) as item_count,
        cast(coalesce(order_totals.unit_count, 0) as bigint) as unit_count,
        cast(coalesce(order_totals.gross_revenue, 0) as decimal(18, 2)) as gross_revenue,
        cast(coalesce(order_totals.discount_amount, 0) as decimal(18, 2)) as discount_amount,
        coalesce(order_statuses.is_cancelled, false) as is_cancelled,
        -- The newest landing time of the order and its lines: the watermark. Null when staging no longer
        -- holds the order (incremental builds only), which replace_keys deletes and does not insert.
        case
            when orders.order_id is not null
                then greatest(
                    orders.last_ingested_at,
                    coalesce(order_totals.last_ingested_at, orders.last_ingested_at)
                )
        end as last_ingested_at
    from order_keys
    left join orders
        on order_keys.order_id = orders.order_id
    left join order_totals
        on order_keys.order_id = order_totals.order_id
    left join order_statuses
        on orders.order_status = order_statuses.order_status
)

select * from final
