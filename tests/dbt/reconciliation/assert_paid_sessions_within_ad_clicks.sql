-- Accuracy across sources (a loose bound): a session that arrived from an ad (utm_campaign) began with a
-- click the ad platform counted, so a campaign's paid sessions on a day cannot much exceed its clicks.
-- Allowed: 1.5 × clicks + 5, for what legitimately breaks the one-to-one (a long visit split in two by the
-- session timeout, a shared ad link, the platform's early reports undercounting before restatement).
-- Judged on the days after the last publication that the ad platform has reported (its latest report of
-- each day and campaign; a day it has not reported yet has no clicks to compare with).
with

sessions as (
    select * from {{ ref('fct_sessions') }}
    where session_started_at > {{ audit_since() }} and utm_campaign is not null
),

ad_spend as (
    select * from {{ ref('stg_ads__spend') }}
),

paid_sessions as (
    select
        cast(session_started_at as date) as date_day,
        utm_campaign as campaign_id,
        count(*) as paid_sessions
    from sessions
    group by cast(session_started_at as date), utm_campaign
),

clicks as (
    select
        date_day,
        campaign_id,
        sum(clicks) as clicks
    from ad_spend
    group by date_day, campaign_id
),

compared as (
    select
        paid_sessions.date_day,
        paid_sessions.campaign_id,
        paid_sessions.paid_sessions,
        clicks.clicks
    from paid_sessions
    inner join clicks
        on
            paid_sessions.date_day = clicks.date_day
            and paid_sessions.campaign_id = clicks.campaign_id
)

select * from compared
where paid_sessions > 1.5 * clicks + 5
