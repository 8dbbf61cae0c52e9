{#- A deterministic key from several columns (md5 of their text, nulls spelled out), like
    dbt_utils.generate_surrogate_key, which we cannot install (no dbt hub here). -#}
{% macro surrogate_key(columns) -%}
    md5(concat_ws('|', {% for column in columns -%}
        coalesce(cast({{ column }} as {{ dbt.type_string() }}), '<null>')
        {%- if not loop.last %}, {% endif %}
    {%- endfor %}))
{%- endmacro %}
