-- Accuracy across sources: an order line's unit price is the product's catalogue price at the moment
-- the order was placed (the SCD2 history in snap_products). Judged on the lines placed after the last
-- publication (audit_since). A line placed before the first version the snapshot captured for its
-- product cannot be checked and is left out. Tolerance: half a cent (prices are in cents).
with

order_items as (
    select * from {{ ref('fct_order_items') }}
    where placed_at > {{ audit_since() }}
),

product_versions as (
    select * from {{ ref('snap_products') }}
),

priced_lines as (
    select
        order_items.order_item_id,
        order_items.order_id,
        order_items.product_id,
        order_items.placed_at,
        order_items.unit_price,
        product_versions.price as catalogue_price
    from order_items
    inner join product_versions
        on
            order_items.product_id = product_versions.product_id
            and order_items.placed_at >= product_versions.dbt_valid_from
            and (
                order_items.placed_at < product_versions.dbt_valid_to
                or product_versions.dbt_valid_to is null
            )
)

select * from priced_lines
where abs(unit_price - catalogue_price) > 0.005
