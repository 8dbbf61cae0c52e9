{#- Where the gates' "new data" starts: the instant the current publication is current at, set by the
    pipeline as LIFECYCLE_AUDIT_SINCE (src/lifecycle/quality/window.py). Run by hand without it, the day
    before the as-of date. Checks that judge new data (reconciliations across sources) filter their event
    time with `> audit_since()`, so a partial day after the last publication is judged too and history
    that was already published is not judged again. Read only when dbt executes, as in as_of_date(). -#}
{% macro audit_since() -%}
    {%- set since = env_var('LIFECYCLE_AUDIT_SINCE', '') if execute else '' -%}
    {%- if since -%}
        cast('{{ since }}' as timestamp)
    {%- else -%}
        cast({{ dbt.dateadd('day', -1, as_of_date()) }} as timestamp)
    {%- endif -%}
{%- endmacro %}
