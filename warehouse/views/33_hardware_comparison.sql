-- Mart: the same model and load point across hardware (latest comparable result of each).
-- relative_tps_per_gpu is this hardware's per-GPU output throughput over the best one's.
with latest as (
    select * from latest_results
),

compared as (
    select
        model_name,
        dtype,
        load_profile,
        modality,
        concurrency,
        rate_rps,
        hardware_name,
        gpu_name,
        gpus_used,
        tp_degree,
        replica_count,
        run_id,
        run_started_at,
        scenario_name,
        output_throughput_tps,
        output_throughput_tps_per_gpu,
        request_throughput_rps,
        goodput_rps,
        ttft_p50_ms,
        ttft_p99_ms,
        tpot_p50_ms,
        tpot_p99_ms,
        e2e_p99_ms,
        error_share,
        cost_per_million_output_tokens_usd,
        count(*) over load_point as hardware_count,
        output_throughput_tps_per_gpu
            / max(output_throughput_tps_per_gpu) over load_point as relative_tps_per_gpu,
        rank() over (
            partition by model_name, dtype, load_profile, modality, concurrency, rate_rps
            order by output_throughput_tps_per_gpu desc nulls last
        ) as tps_per_gpu_rank
    from latest
    window load_point as (
        partition by model_name, dtype, load_profile, modality, concurrency, rate_rps
    )
),

final as (
    select * from compared
)

select * from final
