{#- The incremental strategy of a model that recomputes whole keys but whose rows mostly come out as
    they were (incremental_strategy='changed_rows', unique_key: the key recomputed, such as a visitor;
    row_key: a column unique and not null in every row, such as a session). The result is delete+insert's
    (each recomputed key holds exactly the build's rows), but only the rows that differ are written: a
    recomputed row identical to the stored one (every column, nulls equal) stays where it is, a stored
    row of a recomputed key that the build no longer has or has changed is deleted, and the new or
    changed rows are inserted.

    Why: a visitor with one new session is recomputed from their whole history, and delete+insert
    deletes and writes again every session they ever had, about ten rows for each new one. DuckDB keeps
    deleted rows in their row groups until a checkpoint's vacuum rewrites the groups, which it does once
    a quarter of their rows are deleted; so each day's rewrite of the returning visitors' history
    brought a rewrite of large parts of the table every few days, stalling the build's other thread
    (docs/performance.md). Runs on DuckDB only: on Spark these models are tables
    (incremental_materialization). -#}
{% macro get_incremental_changed_rows_sql(arg_dict) -%}
    {%- set key = arg_dict['unique_key'] -%}
    {%- set row_key = config.get('row_key') -%}
    {%- if key is not string or row_key is not string -%}
        {{ exceptions.raise_compiler_error(
            "changed_rows needs one unique_key column (the key the model recomputes) and one row_key"
            ~ " column (unique and not null in every row) in " ~ model.original_file_path
            ~ ", got unique_key=" ~ key ~ " and row_key=" ~ row_key
        ) }}
    {%- endif -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set rows = arg_dict['temp_relation'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    {%- set unchanged = target.identifier ~ '__unchanged_rows' -%}
    -- The build's rows that the model already holds, as they are.
    create or replace temp table {{ unchanged }} as
    select same.{{ row_key }}
    from (
        select {{ columns }} from {{ rows }}
        intersect
        select {{ columns }} from {{ target }}
        where {{ key }} in (select {{ key }} from {{ rows }})
    ) as same
    where same.{{ row_key }} is not null;

    delete from {{ target }}
    where
        {{ key }} in (select {{ key }} from {{ rows }})
        and ({{ row_key }} is null or {{ row_key }} not in (select {{ row_key }} from {{ unchanged }}));

    insert into {{ target }} ({{ columns }})
    select {{ columns }}
    from {{ rows }}
    where {{ row_key }} is null or {{ row_key }} not in (select {{ row_key }} from {{ unchanged }});

    drop table {{ unchanged }}
{%- endmacro %}
