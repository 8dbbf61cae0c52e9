{#- The current row per key of a CDC-landed raw table: the latest change by log position wins, and a key
    whose latest change is a delete has no current row. After a full-refresh snapshot (rows with
    _op = 'snapshot', all at the log position the snapshot is consistent with), a key whose latest change
    is older than that snapshot was not in it: it was deleted while CDC was not watching.
    `change_log`: the whole change log, where the latest snapshot is looked up, when `relation` holds
    the changes of some keys only (an incremental build). `keep_removed`: keep such a removed key's
    latest change, with `is_removed` true, for an incremental model to remove the key (replace_keys);
    otherwise it is dropped and `is_removed` is false on every row. -#}
{% macro latest_cdc_rows(relation, key, change_log=none, keep_removed=false) -%}
    select *
    from (
        select
            *,
            _op = 'delete'
            or _change_id < coalesce(
                (select max(_change_id) from {{ change_log or relation }} where _op = 'snapshot'),
                _change_id
            ) as is_removed
        from {{ relation }}
        qualify
            row_number() over (
                partition by {{ key }}
                order by _change_id desc, _ingested_at desc
            ) = 1
    ) as latest_changes
    {%- if not keep_removed %}
        where not is_removed
    {%- endif %}
{%- endmacro %}

{#- The keys an incremental CDC model recomputes: those with a change landed since the newest landing time
    the model holds (its `last_ingested_at`; see landed_since_last_build). A snapshot among the landed
    rows replaces everything before it in the log, so then every key of the log is recomputed, and those
    the snapshot no longer holds are removed. (Every key the model holds has its current change in the
    log: retention keeps it.) -#}
{% macro cdc_changed_keys(change_log, key) -%}
    select distinct change_rows.{{ key }}
    from {{ change_log }} as change_rows
    where
        {{ landed_since_last_build('change_rows._ingested_at', 'last_ingested_at') }}
        or exists (
            select 1
            from {{ change_log }} as snapshot_rows
            where
                snapshot_rows._op = 'snapshot'
                and {{ landed_since_last_build('snapshot_rows._ingested_at', 'last_ingested_at') }}
        )
{%- endmacro %}

{#- The change log rows an incremental CDC model computes, each with its key's newest landing time as
    `last_ingested_at` (the model's watermark): in an incremental build every change of the keys
    cdc_changed_keys selects (each key from its whole history), otherwise the whole log. `relation`: the
    model's import CTE of the log; `change_log`: the log's relation, where the changed keys are looked up.
    Given the relation and not the CTE, the lookup leaves the CTE read once: DuckDB materializes a CTE
    that is read more than once, which would copy the whole log on every build. -#}
{% macro cdc_changes(relation, key, change_log=none) -%}
    select
        change_rows.*,
        max(change_rows._ingested_at) over (partition by change_rows.{{ key }}) as last_ingested_at
    from {{ relation }} as change_rows
    {%- if is_incremental() %}
        where change_rows.{{ key }} in ({{ cdc_changed_keys(change_log or relation, key) }})
    {%- endif %}
{%- endmacro %}
