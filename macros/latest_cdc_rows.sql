{#- The current row per key of a CDC-landed raw table: the latest change by log position wins,
    and a key whose latest change is a delete has no current row. -#}
{% macro latest_cdc_rows(relation, key) -%}
    select *
    from {{ relation }}
    qualify
        row_number() over (
            partition by {{ key }}
            order by _change_id desc, _ingested_at desc
        ) = 1
        and _op != 'delete'
{%- endmacro %}
