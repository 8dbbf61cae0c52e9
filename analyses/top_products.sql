-- The 20 products with the most revenue (after discounts) from non-cancelled orders, with units and
-- orders, and whether they are still on sale.
with

order_items as (
    select * from {{ ref('fct_order_items') }}
),

products as (
    select * from {{ ref('dim_products') }}
),

product_sales as (
    select
        product_id,
        count(distinct order_id) as order_count,
        sum(quantity) as units_sold,
        sum(net_amount) as revenue
    from order_items
    where not is_cancelled
    group by product_id
)

select
    product_sales.product_id,
    products.product_name,
    products.category_name,
    products.is_active,
    product_sales.order_count,
    product_sales.units_sold,
    product_sales.revenue
from product_sales
left join products
    on product_sales.product_id = products.product_id
order by
    product_sales.revenue desc,
    product_sales.product_id asc
limit 20
