-- Staging: one row per (run, scenario). Renames, casts, and the SLOs lifted out of the spec.
with source as (
    select * from scenarios
),

renamed as (
    select
        run_id,
        scenario_id,
        scenario_name,
        hardware_name,
        gpu_name,
        gpu_count,
        coalesce(gpus_used, tp_degree * replicas, gpu_count) as gpus_used,
        price_per_gpu_hour as price_per_gpu_hour_usd,
        model_name,
        dtype,
        engine,
        load_profile,
        modality,
        concurrency,
        rate_rps,
        tp_degree,
        replicas as replica_count,
        plan_json,
        json_extract_string(plan_json, '$.reason') as plan_reason,
        spec_json,
        cast(json_extract(spec_json, '$.slo.ttft_ms') as double) as slo_ttft_ms,
        cast(json_extract(spec_json, '$.slo.tpot_ms') as double) as slo_tpot_ms,
        cast(json_extract(spec_json, '$.slo.e2e_ms') as double) as slo_e2e_ms,
        status as scenario_status,
        status = 'passed' as is_comparable,
        error_message,
        started_at as scenario_started_at,
        ended_at as scenario_ended_at,
        t0 as t0_at,
        duration_s
    from source
),

final as (
    select * from renamed
)

select * from final
