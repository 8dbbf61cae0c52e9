{#- Snapshots on Spark's plain Parquet tables, which cannot MERGE (dbt-spark's own snapshots need Delta Lake,
    Iceberg or Hudi). dbt's default snapshot materialization does the rest (staging the changes, adding new
    columns); only its final step differs: instead of merging in place, the snapshot is rebuilt beside the
    old one and swapped in by renames (docs/scale-out.md, "Per-engine strategies"). -#}
{% materialization snapshot, adapter='spark' %}
    {{ return(materialization_snapshot_default()) }}
{% endmaterialization %}

{#- The rows a merge would leave: each current version that the staged changes close (update, delete) gets
    their dbt_valid_to, and the staged new versions (insert) are added. Runs the rebuild and the swap
    itself, then hands the materialization a statement with nothing left to do. -#}
{% macro spark__snapshot_merge_sql(target, source, insert_cols) -%}
    {%- set names = config.get('snapshot_table_column_names') or get_snapshot_table_column_names() -%}
    {%- set columns = adapter.get_columns_in_relation(target) | map(attribute='name') | list -%}
    {%- set rebuilt = api.Relation.create(
        schema=target.schema, identifier=target.identifier ~ '__dbt_rebuilt', type='table'
    ) -%}
    {%- set previous = api.Relation.create(
        schema=target.schema, identifier=target.identifier ~ '__dbt_previous', type='table'
    ) -%}
    {%- set closed_versions -%}
        select
            {{ names.dbt_scd_id }} as closed_scd_id,
            {{ names.dbt_valid_to }} as closed_valid_to
        from {{ source }}
        where dbt_change_type in ('update', 'delete')
    {%- endset -%}
    {%- set rebuild -%}
        create table {{ rebuilt }} using parquet as
        select
            {%- for column in columns %}
            {% if column == names.dbt_valid_to -%}
            case when closed.closed_scd_id is not null then closed.closed_valid_to else existing.{{ column }} end
            {%- else -%}
            existing.{{ column }}
            {%- endif %} as {{ column }}{% if not loop.last %},{% endif %}
            {%- endfor %}
        from {{ target }} as existing
        left join ({{ closed_versions }}) as closed
            on existing.{{ names.dbt_scd_id }} = closed.closed_scd_id
            and existing.{{ names.dbt_valid_to }} is null
        union all
        select {{ columns | join(', ') }}
        from {{ source }}
        where dbt_change_type = 'insert'
    {%- endset -%}
    {%- do run_query('drop table if exists ' ~ rebuilt) -%}
    {%- do run_query('drop table if exists ' ~ previous) -%}
    {%- do run_query(rebuild) -%}
    {%- do run_query('alter table ' ~ target ~ ' rename to ' ~ previous) -%}
    {%- do run_query('alter table ' ~ rebuilt ~ ' rename to ' ~ target) -%}
    {%- do run_query('drop table ' ~ previous) -%}
    select 1 as snapshot_swapped
{%- endmacro %}

{#- dbt's snapshot materialization names the snapshot with the node's database, which Spark nodes do not
    have (Spark has schemas only): look the relation up without one. -#}
{% macro spark__get_or_create_relation(database, schema, identifier, type) -%}
    {{ return(default__get_or_create_relation(none, schema, identifier, type)) }}
{%- endmacro %}
