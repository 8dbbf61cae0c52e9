with

source as (
    select * from {{ source('ads', 'spend') }}
),

-- Restatements: the latest drop that reports a (date, campaign) holds its final numbers.
latest_version as (
    select *
    from source
    qualify
        row_number() over (
            partition by date, campaign_id
            order by _source_file desc, _ingested_at desc
        ) = 1
),

renamed as (
    select
        {{ surrogate_key(['date', 'campaign_id']) }} as spend_id,
        date as date_day,
        channel,
        campaign_id,
        {{ redact_contact_data('campaign_name') }} as campaign_name,
        impressions,
        clicks,
        spend,
        _source_file as reported_in_file
    from latest_version
)

select * from renamed
