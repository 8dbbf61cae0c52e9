{#- The run's "today": var('as_of') (set by `lifecycle transform --as-of`), else the current UTC date.
    Every rule relative to "now" (active customers, freshness) uses this, so replays are deterministic. -#}
{% macro as_of_date() -%}
    {%- if var('as_of', none) -%}
        cast('{{ var("as_of") }}' as date)
    {%- else -%}
        current_date
    {%- endif -%}
{%- endmacro %}
