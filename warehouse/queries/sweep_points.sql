-- Throughput/latency points of one run (default: latest), one row per comparable scenario,
-- ordered along each (hardware, model, load profile) sweep, for the report's curves.
-- params: run_id = null
select
    hardware_name,
    model_name,
    load_profile,
    concurrency,
    rate_rps,
    scenario_name,
    output_throughput_tps,
    output_throughput_tps_per_gpu,
    tpot_p50_ms,
    ttft_p99_ms,
    e2e_p50_ms
from scenario_summary
where is_comparable
    and run_id = coalesce(
        $run_id,
        (select run_id from stg_runs order by run_started_at desc, run_id desc limit 1)
    )
order by model_name, hardware_name, load_profile, concurrency, rate_rps
