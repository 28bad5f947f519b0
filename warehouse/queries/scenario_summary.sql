-- Latency percentiles, throughput, goodput and cost per scenario of one run (default: latest).
-- params: run_id = null, model = null
select
    run_id,
    scenario_name,
    scenario_status,
    hardware_name,
    model_name,
    load_profile,
    concurrency,
    rate_rps,
    tp_degree,
    replica_count,
    gpus_used,
    request_count,
    error_share,
    ttft_p50_ms,
    ttft_p90_ms,
    ttft_p99_ms,
    tpot_p50_ms,
    tpot_p90_ms,
    tpot_p99_ms,
    itl_event_p50_ms,
    e2e_p50_ms,
    e2e_p99_ms,
    request_throughput_rps,
    output_throughput_tps,
    output_throughput_tps_per_replica,
    output_throughput_tps_per_gpu,
    goodput_rps,
    slo_attainment_share,
    cost_per_million_output_tokens_usd
from scenario_summary
where run_id = coalesce(
        $run_id,
        (select run_id from stg_runs order by run_started_at desc, run_id desc limit 1)
    )
    and ($model is null or model_name = $model)
order by hardware_name, model_name, load_profile, concurrency, rate_rps
