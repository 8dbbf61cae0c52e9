{#- A salted SHA-256 of a normalised contact value (trimmed, lower-cased), so marts can join and count
    customers by email or phone without holding the value. The salt is read by the engine from its store
    (pii_salt_path) when the query runs: it is never rendered into SQL, so compiled code, manifests, logs
    and the docs site hold only the store's path. -#}
{% macro hash_pii(column) -%}
    {{ return(adapter.dispatch('hash_pii', 'lifecycle')(column)) }}
{%- endmacro %}

{% macro default__hash_pii(column) -%}
    case
        when {{ column }} is not null
            then sha2(
                concat(
                    (select trim(value) from text.`{{ pii_salt_path() }}`),
                    lower(trim({{ column }}))
                ),
                256
            )
    end
{%- endmacro %}

{% macro duckdb__hash_pii(column) -%}
    case
        when {{ column }} is not null
            then sha256(
                concat(
                    (select trim(content, ' '||chr(9)||chr(10)||chr(13)) from read_text({{ dbt.string_literal(pii_salt_path()) }})),
                    lower(trim({{ column }}))
                )
            )
    end
{%- endmacro %}

{#- The salt's store: a file in the data directory's state folder, created by the pipeline
    (src/lifecycle/pii.py) from LIFECYCLE_PII_SALT or at random, readable by its owner only. -#}
{% macro pii_salt_path() -%}
    {{ return(env_var('LIFECYCLE_DATA_DIR', 'data') ~ '/state/pii_salt') }}
{%- endmacro %}

{#- Run at the start of every dbt command (on-run-start): dbt run by hand must hash with the pipeline's
    salt or stop, never hash with none. -#}
{% macro require_pii_salt() -%}
    {{ return(adapter.dispatch('require_pii_salt', 'lifecycle')()) }}
{%- endmacro %}

{% macro default__require_pii_salt() -%}
    {#- Engines without DuckDB's glob(): reading a missing file fails the query, naming the path. -#}
    {%- if execute -%}
        {%- set path = pii_salt_path() -%}
        {%- set found = run_query(
            "select count(*) from text.`" ~ path ~ "` where trim(value) != ''"
        ).columns[0].values()[0] -%}
        {%- if found == 0 -%}
            {{ exceptions.raise_compiler_error("The PII salt store " ~ path ~ " is empty.") }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{% macro duckdb__require_pii_salt() -%}
    {%- if execute -%}
        {%- set path = pii_salt_path() -%}
        {%- set found = run_query(
            "select count(*) from glob(" ~ dbt.string_literal(path) ~ ")"
        ).columns[0].values()[0] -%}
        {%- if found == 0 -%}
            {{ exceptions.raise_compiler_error(
                "No PII salt at " ~ path ~ ": e-mail and phone hashes need the pipeline's salt. "
                ~ "Run `lifecycle transform` once (it stores LIFECYCLE_PII_SALT there if set, else a "
                ~ "random salt), or point LIFECYCLE_DATA_DIR at the data directory that holds it."
            ) }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
