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

{#- DuckDB: most values hold neither shape, so one match of both patterns decides whether the three
    replacements run at all (a third of the time over clickstream URLs, same results). -#}
{% macro duckdb__redact_contact_data(column) -%}
    {%- set email = var("contact_email_regex") -%}
    {%- set phone = var("contact_phone_regex") -%}
    case
        when regexp_matches({{ column }}, '{{ email }}|{{ phone }}')
            then regexp_replace(
                regexp_replace(
                    regexp_replace({{ column }}, '{{ email }}', '[redacted]', 'g'),
                    '{{ phone }}', '\1[redacted]\5', 'g'
                ),
                '{{ phone }}', '\1[redacted]\5', 'g'
            )
        else {{ column }}
    end
{%- endmacro %}
