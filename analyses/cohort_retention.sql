-- Retention curves: the share of each first-order cohort that ordered again N months later, one
-- column per month since the first order (0 to 6).
with

retention as (
    select * from {{ ref('fct_cohort_retention') }}
)

select
    cohort_month,
    max(cohort_customers) as cohort_customers,
    {% for month in range(7) %}
        max(case when months_since_first_order = {{ month }} then retention_rate end) as month_{{ month }}
        {%- if not loop.last %},{% endif %}
    {% endfor %}
from retention
group by cohort_month
order by cohort_month
