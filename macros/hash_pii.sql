{#- A salted SHA-256 of a normalised contact value (trimmed, lower-cased), so marts can join and count
    customers by email or phone without holding the value. The salt comes from LIFECYCLE_PII_SALT at
    run time (the CLI creates one per data directory if unset); it is never in the repository. -#}
{% macro hash_pii(column) -%}
    {{ return(adapter.dispatch('hash_pii', 'lifecycle')(column)) }}
{%- endmacro %}

{% macro default__hash_pii(column) -%}
    case
        when {{ column }} is not null
            then sha2(concat('{{ env_var("LIFECYCLE_PII_SALT", "") }}', lower(trim({{ column }}))), 256)
    end
{%- endmacro %}

{% macro duckdb__hash_pii(column) -%}
    case
        when {{ column }} is not null
            then sha256(concat('{{ env_var("LIFECYCLE_PII_SALT", "") }}', lower(trim({{ column }}))))
    end
{%- endmacro %}
