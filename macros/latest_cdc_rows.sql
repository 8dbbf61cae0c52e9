{#- The current row per key of a CDC-landed raw table: the latest change by log position wins, and a key
    whose latest change is a delete has no current row. After a full-refresh snapshot (rows with
    _op = 'snapshot', all at the log position the snapshot is consistent with), a key whose latest change
    is older than that snapshot was not in it: it was deleted while CDC was not watching. -#}
{% macro latest_cdc_rows(relation, key) -%}
    select *
    from {{ relation }}
    qualify
        row_number() over (
            partition by {{ key }}
            order by _change_id desc, _ingested_at desc
        ) = 1
        and _op != 'delete'
        and _change_id >= coalesce(
            (select max(_change_id) from {{ relation }} where _op = 'snapshot'),
            _change_id
        )
{%- endmacro %}
