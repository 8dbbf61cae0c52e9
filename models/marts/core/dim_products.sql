-- One row per product with its current catalogue attributes (price history: snapshot snap_products).
with

products as (
    select * from {{ ref('stg_app__products') }}
)

select
    product_id,
    category_id,
    sku,
    product_name,
    cast(price as decimal(18, 2)) as current_price,
    is_active,
    created_at,
    updated_at
from products
