-- One row per product with its current catalogue attributes (price history: snapshot snap_products).
with

products as (
    select * from {{ ref('stg_app__products') }}
),

categories as (
    select * from {{ ref('stg_app__categories') }}
)

select
    products.product_id,
    products.category_id,
    categories.category_name,
    products.sku,
    products.product_name,
    cast(products.price as decimal(18, 2)) as current_price,
    products.is_active,
    products.created_at,
    products.updated_at
from products
left join categories
    on products.category_id = categories.category_id
