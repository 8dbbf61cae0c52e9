-- Accuracy across sources: an order line's unit price is the product's catalogue price at the moment
-- the order was placed. Judged on the lines placed after the last publication (audit_since). The price
-- history comes from the products' change log, where each version is valid from its change until the
-- next: not from the snapshot snap_products, which sees one version per build, so a build that catches
-- up several days (after an outage) would miss the price changes in between. A line placed before the
-- first version in the log cannot be checked and is left out. Tolerance: half a cent (prices in cents).
with

order_items as (
    select * from {{ ref('fct_order_items') }}
    where placed_at > {{ audit_since() }}
),

product_versions as (
    select
        product_id,
        price,
        _changed_at as valid_from,
        lead(_changed_at) over (partition by product_id order by _change_id) as valid_to
    from {{ source('app', 'products') }}
    where _op <> 'delete'
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
            and order_items.placed_at >= product_versions.valid_from
            and (
                order_items.placed_at < product_versions.valid_to
                or product_versions.valid_to is null
            )
)

select * from priced_lines
where abs(unit_price - catalogue_price) > 0.005
