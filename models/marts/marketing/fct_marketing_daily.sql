-- Spend and what it bought, per day and campaign: the ad platform's final numbers beside the orders
-- credited to each campaign by last-touch attribution (int_orders_attributed). Attribution names the
-- campaign; its channel is the ad platform's, resolved here where the ad spend is read.
with

ad_spend as (
    select * from {{ ref('stg_ads__spend') }}
),

attributed_orders as (
    select * from {{ ref('int_orders_attributed') }}
),

-- A campaign's channel from any day the platform reported it, so a credited day without spend has one.
campaign_channels as (
    select
        campaign_id,
        max(channel) as channel
    from ad_spend
    group by campaign_id
),

credited as (
    select
        placed_date as date_day,
        campaign_id,
        count(*) as attributed_orders,
        sum(case when is_first_order then 1 else 0 end) as attributed_new_customers,
        sum(order_total) as attributed_revenue
    from attributed_orders
    where
        is_attributed
        and not is_cancelled
    group by
        placed_date,
        campaign_id
),

-- A UTM campaign the ad platform never reported keeps its credit under `unknown_campaign`.
credited_days as (
    select
        credited.date_day,
        credited.campaign_id,
        coalesce(campaign_channels.channel, 'unknown_campaign') as channel,
        credited.attributed_orders,
        credited.attributed_new_customers,
        credited.attributed_revenue
    from credited
    left join campaign_channels
        on credited.campaign_id = campaign_channels.campaign_id
),

campaign_days as (
    select
        coalesce(ad_spend.date_day, credited_days.date_day) as date_day,
        coalesce(ad_spend.campaign_id, credited_days.campaign_id) as campaign_id,
        coalesce(ad_spend.channel, credited_days.channel) as channel,
        ad_spend.campaign_name,
        coalesce(ad_spend.spend, 0) as spend,
        coalesce(ad_spend.clicks, 0) as clicks,
        coalesce(ad_spend.impressions, 0) as impressions,
        coalesce(credited_days.attributed_orders, 0) as attributed_orders,
        coalesce(credited_days.attributed_new_customers, 0) as attributed_new_customers,
        coalesce(credited_days.attributed_revenue, 0) as attributed_revenue
    from ad_spend
    full outer join credited_days
        on
            ad_spend.date_day = credited_days.date_day
            and ad_spend.campaign_id = credited_days.campaign_id
)

select
    {{ surrogate_key(['date_day', 'campaign_id']) }} as marketing_day_id,
    date_day,
    channel,
    campaign_id,
    campaign_name,
    cast(spend as decimal(18, 2)) as spend,
    cast(clicks as {{ dbt.type_bigint() }}) as clicks,
    cast(impressions as {{ dbt.type_bigint() }}) as impressions,
    cast(attributed_orders as {{ dbt.type_bigint() }}) as attributed_orders,
    cast(attributed_new_customers as {{ dbt.type_bigint() }}) as attributed_new_customers,
    cast(attributed_revenue as decimal(18, 2)) as attributed_revenue,
    {{ ratio('attributed_revenue', 'spend') }} as roas,
    cast(spend / nullif(attributed_new_customers, 0) as decimal(18, 2)) as cac,
    cast(spend / nullif(clicks, 0) as decimal(18, 2)) as cost_per_click,
    {{ ratio('clicks', 'impressions') }} as click_through_rate
from campaign_days
