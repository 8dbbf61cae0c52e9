{#- Incremental, not the folder's view: the largest source, and deduplicating every delivery on every
    run grows with history (the intermediate sessions models read it on each build). Each build takes
    the raw rows landed since the newest one it kept (landed_since_last_build) and appends the first
    delivery of each event_id it does not hold yet. Raw is append-only and batches land in
    time order, so an event's first delivery is always in the first build that sees the event, and a
    re-delivery arriving later is dropped by the anti-join: the result equals a full rebuild. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='append_new_columns',
    )
}}

with

source as (
    select * from {{ source('events', 'clickstream') }}
    {% if is_incremental() %}
        where {{ landed_since_last_build('_ingested_at', 'ingested_at') }}
    {% endif %}
),

-- At-least-once delivery: keep the first delivery of each event.
first_delivery as (
    select *
    from source
    {% if is_incremental() %}
        where not exists (
            select 1
            from {{ this }} as kept
            where kept.event_id = source.event_id
        )
    {% endif %}
    qualify
        row_number() over (
            partition by event_id
            order by _ingested_at asc, _source_file asc, _line_number asc
        ) = 1
),

-- The schema change renamed `device` to `device_type`; both spellings mean the same thing. Free text
-- from outside (URLs, search terms in them, campaigns, user agents) loses any e-mail address or phone.
renamed as (
    select
        event_id,
        event_type,
        event_time,
        anonymous_id,
        customer_id,
        {{ redact_contact_data('user_agent') }} as user_agent,
        platform,
        coalesce(device_type, device) as device_type,
        app_version,
        {{ redact_contact_data('page_url') }} as page_url,
        product_id,
        order_id,
        {{ redact_contact_data('utm_source') }} as utm_source,
        {{ redact_contact_data('utm_medium') }} as utm_medium,
        {{ redact_contact_data('utm_campaign') }} as utm_campaign,
        {{ json_text('context', '$.locale') }} as browser_locale,
        _ingested_at as ingested_at
    from first_delivery
)

select * from renamed
