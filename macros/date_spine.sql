{#- One row per day (column date_day) from start_date to end_date inclusive; both are SQL expressions. -#}
{% macro date_spine(start_date, end_date) -%}
    {{ return(adapter.dispatch('date_spine', 'lifecycle')(start_date, end_date)) }}
{%- endmacro %}

{% macro default__date_spine(start_date, end_date) -%}
    select cast(date_day as date) as date_day
    from (
        select explode(sequence({{ start_date }}, {{ end_date }}, interval 1 day)) as date_day
    ) as spine
{%- endmacro %}

{% macro duckdb__date_spine(start_date, end_date) -%}
    select cast(spine.date_day as date) as date_day
    from range(
        cast({{ start_date }} as timestamp),
        cast({{ end_date }} as timestamp) + interval 1 day,
        interval 1 day
    ) as spine (date_day)
{%- endmacro %}
