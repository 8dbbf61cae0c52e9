{#- ISO day of the week of a date: 1 = Monday … 7 = Sunday (dbt has no cross-database macro for it). -#}
{% macro day_of_week(date_expression) -%}
    {{ return(adapter.dispatch('day_of_week', 'lifecycle')(date_expression)) }}
{%- endmacro %}

{% macro default__day_of_week(date_expression) -%}
    extract(isodow from {{ date_expression }})
{%- endmacro %}

{% macro duckdb__day_of_week(date_expression) -%}
    isodow({{ date_expression }})
{%- endmacro %}

{% macro spark__day_of_week(date_expression) -%}
    ((dayofweek({{ date_expression }}) + 5) % 7) + 1
{%- endmacro %}
