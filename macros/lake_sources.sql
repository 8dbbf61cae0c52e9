{#- Where the sources live for engines that do not read the DuckDB file: the Parquet lake that ingestion
    writes beside the warehouse (src/lifecycle/ingest/lake.py), one folder of batch files per raw table.
    LIFECYCLE_LAKE_DIR points elsewhere (a bucket: s3a://…/lake) on a cluster. -#}
{% macro lake_dir() -%}
    {{ return(env_var('LIFECYCLE_LAKE_DIR', env_var('LIFECYCLE_DATA_DIR', 'data') ~ '/lake')) }}
{%- endmacro %}

{#- Run at the start of every dbt command (on-run-start): make each declared raw source a table of the
    engine's catalogue. DuckDB lands raw in its own file, so it needs nothing. -#}
{% macro register_lake_sources() -%}
    {{ return(adapter.dispatch('register_lake_sources', 'lifecycle')()) }}
{%- endmacro %}

{% macro default__register_lake_sources() -%}
{%- endmacro %}

{#- Spark: an external Parquet table per source over its lake folder, re-created on every run so that
    columns added by schema drift (a new batch file with one more column) are seen; mergeSchema reads the
    union of the batch files' columns. Dropping an external table leaves its files alone. -#}
{% macro spark__register_lake_sources() -%}
    {%- if execute -%}
        {%- set schemas = [] -%}
        {%- for source in graph.sources.values() -%}
            {%- if source.schema not in schemas -%}
                {%- do schemas.append(source.schema) -%}
                {%- do run_query('create database if not exists ' ~ source.schema) -%}
            {%- endif -%}
            {%- set relation = source.schema ~ '.' ~ source.identifier -%}
            {%- do run_query('drop table if exists ' ~ relation) -%}
            {%- do run_query(
                'create table ' ~ relation ~ ' using parquet options (mergeSchema \'true\') location '
                ~ dbt.string_literal(lake_dir() ~ '/raw/' ~ source.identifier)
            ) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
