{#- Free text from outside (URLs and their query strings, search terms, campaign names, user agents) with
    every e-mail address and phone number replaced by '[redacted]', so contact data that visitors or
    partners typed into it never reaches a model downstream. The shapes are the vars contact_email_regex
    and contact_phone_regex (dbt_project.yml). The phone pattern takes the character before and after the
    number as its boundary, so two numbers separated by one character need a second pass. -#}
{% macro redact_contact_data(column) -%}
    {{ return(adapter.dispatch('redact_contact_data', 'lifecycle')(column)) }}
{%- endmacro %}

{% macro default__redact_contact_data(column) -%}
    {%- set email = var('contact_email_regex') | replace('\\', '\\\\') -%}
    {%- set phone = var('contact_phone_regex') | replace('\\', '\\\\') -%}
    regexp_replace(
        regexp_replace(
            regexp_replace({{ column }}, '{{ email }}', '[redacted]'),
            '{{ phone }}', '$1[redacted]$5'
        ),
        '{{ phone }}', '$1[redacted]$5'
    )
{%- endmacro %}

{% macro duckdb__redact_contact_data(column) -%}
    regexp_replace(
        regexp_replace(
            regexp_replace({{ column }}, '{{ var("contact_email_regex") }}', '[redacted]', 'g'),
            '{{ var("contact_phone_regex") }}', '\1[redacted]\5', 'g'
        ),
        '{{ var("contact_phone_regex") }}', '\1[redacted]\5', 'g'
    )
{%- endmacro %}
