{#- Use the layer's schema name as is (staging, marts, ...), not dbt's default <target>_<custom>,
    so analysts and Great Expectations see stable names in every environment. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {#- The published copy (target `published`, read by `mf query`) holds every mart in `main`. -#}
    {%- if target.name == 'published' -%}
        main
    {%- elif custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
