{#- The window function call (before `over (...)`) that takes the first non-null value of an expression in
    the window frame. DuckDB spells the null treatment inside the call, Spark as a second argument. -#}
{% macro first_non_null(expression) -%}
    {{ return(adapter.dispatch('first_non_null', 'lifecycle')(expression)) }}
{%- endmacro %}

{% macro default__first_non_null(expression) -%}
    first_value({{ expression }}, true)
{%- endmacro %}

{% macro duckdb__first_non_null(expression) -%}
    first_value({{ expression }} ignore nulls)
{%- endmacro %}
