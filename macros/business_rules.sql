{#- The money rules of the business, each written once and called wherever it applies: dbt models, their
    YAML tests and the Great Expectations suites (which render these macros through ctx.dbt.macro).
    tests/python/test_one_definition.py fails if either formula is spelled out anywhere else. -#}

{#- Order value: what the customer pays for goods, gross less discounts (an order, a line, a day). -#}
{% macro order_value(gross_amount, discount_amount) -%}
    ({{ gross_amount }} - {{ discount_amount }})
{%- endmacro %}

{#- Net revenue: order value less the refunds paid out (doc block net_revenue). -#}
{% macro net_revenue(gross_amount, discount_amount, refund_amount) -%}
    ({{ order_value(gross_amount, discount_amount) }} - {{ refund_amount }})
{%- endmacro %}
