{#- The newest value of a date/timestamp column is no older than `max_age_days` before the as-of date. -#}
{% test recency(model, column_name, max_age_days) %}
    select max_value
    from (select max({{ column_name }}) as max_value from {{ model }}) as newest
    where
        max_value is null
        or cast(max_value as date) < {{ dbt.dateadd('day', -max_age_days, as_of_date()) }}
{% endtest %}
