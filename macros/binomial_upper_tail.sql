{#- P(X >= observed) for X ~ Binomial(trials, share): how likely it is to see at least `observed` cases in
    `trials` when each happens with probability `share`. Exact (a sum of the probability mass below
    `observed`, in log space), so it stays right for the small shares and small samples where the normal
    approximation of a p-chart raises false alarms. All three arguments are SQL expressions. -#}
{% macro binomial_upper_tail(observed, trials, share) -%}
    {{ return(adapter.dispatch('binomial_upper_tail', 'lifecycle')(observed, trials, share)) }}
{%- endmacro %}

{% macro default__binomial_upper_tail(observed, trials, share) -%}
    greatest(0.0, 1.0 - coalesce((
        select sum(exp(
            lgamma({{ trials }} + 1) - lgamma(k + 1) - lgamma({{ trials }} - k + 1)
            + k * ln({{ share }}) + ({{ trials }} - k) * ln(1 - {{ share }})
        ))
        from (select unnest(range(0, cast({{ observed }} as bigint))) as k) as below
    ), 0.0))
{%- endmacro %}
