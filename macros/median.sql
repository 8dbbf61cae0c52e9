{#- The median of a numeric expression as an aggregate. DuckDB has `median()`; the default is the
    ANSI ordered-set aggregate that Postgres, Snowflake and Spark 3.4+ understand. -#}
{% macro median(expression) -%}
    {{ return(adapter.dispatch('median', 'lifecycle')(expression)) }}
{%- endmacro %}

{% macro default__median(expression) -%}
    percentile_cont(0.5) within group (order by {{ expression }})
{%- endmacro %}

{% macro duckdb__median(expression) -%}
    median({{ expression }})
{%- endmacro %}
