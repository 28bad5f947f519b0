-- Mart: per model, the latest comparable results with a flag for the throughput/latency Pareto
-- frontier: no other point of the same model has at least as much per-GPU output throughput
-- and at most the median TPOT, with one of them strictly better.
with points as (
    select
        model_name,
        hardware_name,
        scenario_name,
        run_id,
        load_profile,
        concurrency,
        rate_rps,
        gpus_used,
        output_throughput_tps_per_gpu,
        tpot_p50_ms,
        ttft_p99_ms,
        1000 / nullif(tpot_p50_ms, 0) as interactivity_tps_per_user
    from latest_results
    where output_throughput_tps_per_gpu is not null and tpot_p50_ms is not null
),

flagged as (
    select
        points.*,
        not exists (
            select 1
            from points as other
            where other.model_name = points.model_name
                and other.output_throughput_tps_per_gpu >= points.output_throughput_tps_per_gpu
                and other.tpot_p50_ms <= points.tpot_p50_ms
                and (
                    other.output_throughput_tps_per_gpu > points.output_throughput_tps_per_gpu
                    or other.tpot_p50_ms < points.tpot_p50_ms
                )
        ) as is_pareto
    from points
),

final as (
    select * from flagged
)

select * from final
