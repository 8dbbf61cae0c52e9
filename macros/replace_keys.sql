{#- The incremental strategy of the models that recompute a set of keys (incremental_strategy='replace_keys',
    one unique_key column): every key among the build's rows is deleted from the model, then the rows
    with a `last_ingested_at` are inserted. A row without one is a removal: a key that changed and has no
    current row any more (deleted in the source, absent from a new snapshot, gone from the parent model).
    delete+insert cannot remove such a key, since it deletes only the keys it inserts. Runs on DuckDB
    only: on Spark these models are tables (incremental_materialization). -#}
{% macro get_incremental_replace_keys_sql(arg_dict) -%}
    {%- set key = arg_dict['unique_key'] -%}
    {%- if key is not string -%}
        {{ exceptions.raise_compiler_error(
            "replace_keys needs one unique_key column in " ~ model.original_file_path ~ ", got " ~ key
        ) }}
    {%- endif -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set rows = arg_dict['temp_relation'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ target }}
    where {{ key }} in (select {{ key }} from {{ rows }});

    insert into {{ target }} ({{ columns }})
    select {{ columns }}
    from {{ rows }}
    where last_ingested_at is not null
{%- endmacro %}
