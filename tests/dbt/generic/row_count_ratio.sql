{#- The model keeps between min_ratio and max_ratio of the rows of another relation (e.g. staging
    against raw after deduplication): catches a join or filter that silently drops or multiplies rows. -#}
{% test row_count_ratio(model, compare_model, min_ratio, max_ratio) %}
    with counts as (
        select
            (select count(*) from {{ model }}) as model_rows,
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
