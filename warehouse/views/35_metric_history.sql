-- Mart: key metrics of each scenario name, one row per (scenario name, metric), holding the
-- latest comparable value and every earlier value newest first (for baselines over N runs).
-- higher_is_better says which direction is a regression.
with ranked as (
    select * from comparable_runs
),

long as (
    unpivot ranked
    on
        output_throughput_tps,
        output_throughput_tps_per_gpu,
        goodput_rps,
        ttft_p50_ms,
        ttft_p99_ms,
        tpot_p50_ms,
        tpot_p99_ms,
        e2e_p99_ms,
        error_share
    into name metric_name value metric_value
),

collected as (
    select
        scenario_name,
        any_value(model_name) as model_name,
        any_value(hardware_name) as hardware_name,
        metric_name,
        metric_name in ('output_throughput_tps', 'output_throughput_tps_per_gpu', 'goodput_rps')
            as higher_is_better,
        max(run_id) filter (where run_rank = 1) as latest_run_id,
        max(run_started_at) filter (where run_rank = 1) as latest_run_started_at,
        max(metric_value) filter (where run_rank = 1) as latest_value,
        list(metric_value order by run_rank) filter (where run_rank > 1) as previous_values
    from long
    group by scenario_name, metric_name
),

final as (
    select * from collected
)

select * from final
