{#- The incremental filter of the models fed by ingestion time: rows whose `column` (a landing time,
    `_ingested_at` or derived from it) is later than the newest one this model already holds.
    No safety window: raw is append-only, every batch commits atomically with a landing time later than
    any row before it (landing_time in src/lifecycle/ingest/landing.py, even if the clock steps back), and
    a DuckDB file has one writer, so no batch can commit during a build. Everything landed after the
    previous build is therefore newer than anything it saw; late *events* are new rows with a new landing
    time. (Business-time lookbacks, like fct_order_items', use var('lookback_days') instead.) -#}
{% macro landed_since_last_build(column, built_column) -%}
    {{ column }} > (
        select coalesce(max(built.{{ built_column }}), {{ earliest_timestamp() }})
        from {{ this }} as built
    )
{%- endmacro %}

{#- A timestamp before any landing time: what an empty model compares with. DuckDB has -infinity; Spark
    reads '-infinity' as NULL, which no row is later than, so it gets the earliest timestamp it can hold. -#}
{% macro earliest_timestamp() -%}
    {{ return(adapter.dispatch('earliest_timestamp', 'lifecycle')()) }}
{%- endmacro %}

{% macro default__earliest_timestamp() -%}
    cast('0001-01-01 00:00:00' as timestamp)
{%- endmacro %}

{% macro duckdb__earliest_timestamp() -%}
    cast('-infinity' as timestamp)
{%- endmacro %}
