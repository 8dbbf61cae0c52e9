{#- The model keeps between min_ratio and max_ratio of the rows of another relation (e.g. staging
    against raw after deduplication): catches a join or filter that silently drops or multiplies rows.
    With model_since_column and compare_since_column, only the model's rows from the compared relation's
    oldest row on are counted: retention deletes old raw rows that an incremental model keeps. -#}
{% test row_count_ratio(
    model, compare_model, min_ratio, max_ratio, model_since_column=none, compare_since_column=none
) %}
    with counts as (
        select
            (
                select count(*) from {{ model }}
                {% if model_since_column and compare_since_column %}
                    where {{ model_since_column }} >= (
                        select min({{ compare_since_column }}) from {{ compare_model }}
                    )
                {% endif %}
            ) as model_rows,
            (select count(*) from {{ compare_model }}) as compare_rows
    )

    select *
    from counts
    where
        compare_rows > 0
        and (
            model_rows < {{ min_ratio }} * compare_rows
            or model_rows > {{ max_ratio }} * compare_rows
        )
{% endtest %}
