-- Mart: one row per (run, scenario) with latency percentiles, throughput, goodput and cost.
-- Every scenario is here, whatever its status; comparison marts keep only is_comparable rows.
--   request_throughput_rps / output_throughput_tps   over window_s (ok requests / their tokens)
--   *_per_replica, *_per_gpu                        divided by replica_count / gpus_used
--   goodput_rps                                     requests meeting every SLO in the spec
--   slo_attainment_share                            share of measured requests meeting them
--   cost_per_million_output_tokens_usd              price x gpus_used x hours / output tokens
with scenarios as (
    select * from stg_scenarios
),

runs as (
    select run_id, matrix_name, run_started_at, run_status, git_revision from stg_runs
),

metrics as (
    -- int_scenario_metrics, materialized per run by load_run
    select * from scenario_metrics
),

joined as (
    select
        scenarios.*,
        runs.matrix_name,
        runs.run_started_at,
        runs.run_status,
        runs.git_revision,
        metrics.* exclude (run_id, scenario_id)
    from scenarios
    inner join runs using (run_id)
    left join metrics using (run_id, scenario_id)
),

throughput as (
    select
        *,
        ok_count / nullif(window_s, 0) as request_throughput_rps,
        output_tokens / nullif(window_s, 0) as output_throughput_tps,
        within_slo_count / nullif(window_s, 0) as goodput_rps,
        within_slo_count / nullif(request_count, 0) as slo_attainment_share
    from joined
),

final as (
    select
        * exclude (plan_json, spec_json),
        request_throughput_rps / replica_count as request_throughput_rps_per_replica,
        output_throughput_tps / replica_count as output_throughput_tps_per_replica,
        request_throughput_rps / gpus_used as request_throughput_rps_per_gpu,
        output_throughput_tps / gpus_used as output_throughput_tps_per_gpu,
        price_per_gpu_hour_usd * gpus_used / 3600 / nullif(output_throughput_tps, 0) * 1e6
            as cost_per_million_output_tokens_usd
    from throughput
)

select * from final
