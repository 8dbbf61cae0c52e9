{#- numerator / denominator as a float, null (not an error) when the denominator is zero or null. -#}
{% macro ratio(numerator, denominator) -%}
    cast(
        cast({{ numerator }} as {{ dbt.type_float() }})
        / nullif(cast({{ denominator }} as {{ dbt.type_float() }}), 0)
        as {{ dbt.type_float() }}
    )
{%- endmacro %}
