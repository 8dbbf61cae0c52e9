with

source as (
    select * from {{ source('events', 'clickstream') }}
),

-- At-least-once delivery: keep the first delivery of each event.
first_delivery as (
    select *
    from source
    qualify
        row_number() over (
            partition by event_id
            order by _ingested_at asc, _source_file asc, _line_number asc
        ) = 1
),

-- The schema change renamed `device` to `device_type`; both spellings mean the same thing.
renamed as (
    select
        event_id,
        event_type,
        event_time,
        anonymous_id,
        customer_id,
        user_agent,
        platform,
        coalesce(device_type, device) as device_type,
        app_version,
        page_url,
        product_id,
        order_id,
        utm_source,
        utm_medium,
        utm_campaign,
        json_extract_string(context, '$.locale') as browser_locale,
        _ingested_at as ingested_at
    from first_delivery
)

select * from renamed
