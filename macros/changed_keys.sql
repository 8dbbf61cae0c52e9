{#- The keys (distinct) of `relation` with a row landed since this model's last build
    (landed_since_last_build on `landed_column`, compared with this model's `built_column`): the unit of
    work of an incremental model that recomputes whole keys, such as every session of a visitor.

    It reads the table itself, two columns of it, and is meant as the body of its own CTE: a CTE over the
    whole table that the model also reads elsewhere would be read twice, and DuckDB materializes such a
    CTE, copying the whole history on every build. -#}
{% macro changed_keys(relation, key, landed_column, built_column) -%}
    select distinct landed.{{ key }}
    from {{ relation }} as landed
    where {{ landed_since_last_build('landed.' ~ landed_column, built_column) }}
{%- endmacro %}
