{#- The run's "today": var('as_of') if given with --vars, else the LIFECYCLE_AS_OF environment variable
    (YYYY-MM-DD, set by `lifecycle transform --as-of` and every other lifecycle command that runs dbt),
    else the current UTC date. Every rule relative to "now" (active customers, freshness) uses this, so
    replays are deterministic. The pipeline sets the environment variable rather than the var: a changed
    var makes dbt re-parse the whole project. The variable is read only when dbt executes (`execute`):
    dbt re-parses every file that read an environment variable while parsing once its value changes, and
    it changes every run; the SQL rendered while parsing is never run, so it needs no date. -#}
{% macro as_of_date() -%}
    {%- set day = var('as_of') or (env_var('LIFECYCLE_AS_OF', '') if execute else '') -%}
    {%- if day -%}
        cast('{{ day }}' as date)
    {%- else -%}
        current_date
    {%- endif -%}
{%- endmacro %}
