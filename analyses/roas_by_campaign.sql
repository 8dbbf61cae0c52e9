-- Return on ad spend and acquisition cost by campaign over the whole period (last touch, 7 days).
with

marketing_daily as (
    select * from {{ ref('fct_marketing_daily') }}
),

campaigns as (
    select
        channel,
        campaign_id,
        max(campaign_name) as campaign_name,
        sum(spend) as spend,
        sum(clicks) as clicks,
        sum(impressions) as impressions,
        sum(attributed_orders) as attributed_orders,
        sum(attributed_new_customers) as attributed_new_customers,
        sum(attributed_revenue) as attributed_revenue
    from marketing_daily
    group by
        channel,
        campaign_id
)

select
    channel,
    campaign_id,
    campaign_name,
    spend,
    clicks,
    impressions,
    attributed_orders,
    attributed_revenue,
    {{ ratio('attributed_revenue', 'spend') }} as roas,
    spend / nullif(attributed_new_customers, 0) as cac
from campaigns
order by roas desc nulls last
