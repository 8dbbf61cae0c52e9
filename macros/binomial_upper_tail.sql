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

{#- Spark has no lgamma(): the binomial coefficient's logarithm is a sum of logarithms instead (fine for the
    small counts this judges), and the range of k a filtered sequence (sequence(0, -1) counts down). -#}
{% macro spark__binomial_upper_tail(observed, trials, share) -%}
    greatest(0.0, 1.0 - aggregate(
        filter(sequence(0, greatest(cast({{ observed }} as bigint) - 1, 0)), k -> k < {{ observed }}),
        cast(0.0 as double),
        (total, k) -> total + exp(
            aggregate(
                filter(sequence(1, greatest(k, 1)), i -> i <= k),
                cast(0.0 as double),
                (log_choose, i) -> log_choose + ln(({{ trials }} - k + i) / i)
            )
            + k * ln({{ share }}) + ({{ trials }} - k) * ln(1 - {{ share }})
        )
    ))
{%- endmacro %}
