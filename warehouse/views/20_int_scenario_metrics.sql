-- Intermediate: per (run, scenario) aggregates over measured (non-warmup) requests.
-- load_run materializes it per run into the scenario_metrics table (migration 003).
-- Percentiles use quantile_cont (linear interpolation) over ok requests only.
-- window_s runs from the first send to the last finish, warmup excluded.
with requests as (
    select * from stg_requests
    where not is_warmup
),

slos as (
    select run_id, scenario_id, slo_ttft_ms, slo_tpot_ms, slo_e2e_ms
    from stg_scenarios
),

joined as (
    select
        requests.*,
        is_ok
            and (slos.slo_ttft_ms is null or requests.ttft_ms <= slos.slo_ttft_ms)
            and (slos.slo_tpot_ms is null or coalesce(requests.tpot_ms, 0) <= slos.slo_tpot_ms)
            and (slos.slo_e2e_ms is null or requests.e2e_ms <= slos.slo_e2e_ms)
            as is_within_slo
    from requests
    left join slos using (run_id, scenario_id)
),

aggregated as (
    select
        run_id,
        scenario_id,
        count(*) as request_count,
        count(*) filter (where is_ok) as ok_count,
        count(*) filter (where not is_ok) as error_count,
        count(*) filter (where is_within_slo) as within_slo_count,
        max(finished_s) - min(sent_s) as window_s,
        coalesce(sum(completion_tokens) filter (where is_ok), 0) as output_tokens,
        coalesce(sum(prompt_tokens) filter (where is_ok), 0) as prompt_tokens,
        quantile_cont(ttft_ms, [0.5, 0.9, 0.99]) filter (where is_ok) as ttft_q,
        quantile_cont(tpot_ms, [0.5, 0.9, 0.99]) filter (where is_ok) as tpot_q,
        quantile_cont(itl_event_ms, [0.5, 0.9, 0.99]) filter (where is_ok) as itl_q,
        quantile_cont(e2e_ms, [0.5, 0.9, 0.99]) filter (where is_ok) as e2e_q,
        quantile_cont(dispatch_lag_ms, 0.99) as dispatch_lag_p99_ms
    from joined
    group by run_id, scenario_id
),

final as (
    select
        run_id,
        scenario_id,
        request_count,
        ok_count,
        error_count,
        error_count / request_count as error_share,
        within_slo_count,
        window_s,
        output_tokens,
        prompt_tokens,
        ttft_q[1] as ttft_p50_ms,
        ttft_q[2] as ttft_p90_ms,
        ttft_q[3] as ttft_p99_ms,
        tpot_q[1] as tpot_p50_ms,
        tpot_q[2] as tpot_p90_ms,
        tpot_q[3] as tpot_p99_ms,
        itl_q[1] as itl_event_p50_ms,
        itl_q[2] as itl_event_p90_ms,
        itl_q[3] as itl_event_p99_ms,
        e2e_q[1] as e2e_p50_ms,
        e2e_q[2] as e2e_p90_ms,
        e2e_q[3] as e2e_p99_ms,
        dispatch_lag_p99_ms
    from aggregated
)

select * from final
