{#- The materialization of the models that update by delete+insert on a key. DuckDB deletes and inserts in
    place; Spark's plain Parquet tables can neither delete nor merge (that takes Delta Lake or Iceberg,
    docs/scale-out.md), so on Spark these models are rebuilt whole on every run. The rows are the same:
    the incremental rule only saves work. -#}
{% macro incremental_materialization() -%}
    {{ return('table' if target.type == 'spark' else 'incremental') }}
{%- endmacro %}
