{#- The text of a JSON document's field at a JSONPath (`$.field`), NULL when absent; `json_column` holds the
    document as JSON or text. dbt has no cross-database macro for it. -#}
{% macro json_text(json_column, path) -%}
    {{ return(adapter.dispatch('json_text', 'lifecycle')(json_column, path)) }}
{%- endmacro %}

{% macro default__json_text(json_column, path) -%}
    get_json_object(cast({{ json_column }} as {{ dbt.type_string() }}), {{ dbt.string_literal(path) }})
{%- endmacro %}

{% macro duckdb__json_text(json_column, path) -%}
    json_extract_string({{ json_column }}, {{ dbt.string_literal(path) }})
{%- endmacro %}
