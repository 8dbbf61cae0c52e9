{#- Use the layer's schema name as is (staging, marts, ...), not dbt's default <target>_<custom>,
    so analysts and Great Expectations see stable names in every environment. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
