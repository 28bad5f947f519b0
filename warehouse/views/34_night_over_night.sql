-- Mart: each scenario name's latest comparable result against its previous one.
-- change_pct columns are (latest - previous) / previous x 100.
with ranked as (
    select * from comparable_runs
),

latest as (
    select * from ranked where run_rank = 1
),

previous as (
    select * from ranked where run_rank = 2
),

paired as (
    select
        latest.scenario_name,
        latest.model_name,
        latest.hardware_name,
        latest.run_id as latest_run_id,
        previous.run_id as previous_run_id,
        latest.run_started_at as latest_run_started_at,
        previous.run_started_at as previous_run_started_at,
        latest.output_throughput_tps as latest_output_throughput_tps,
        previous.output_throughput_tps as previous_output_throughput_tps,
        latest.ttft_p99_ms as latest_ttft_p99_ms,
        previous.ttft_p99_ms as previous_ttft_p99_ms,
        latest.tpot_p99_ms as latest_tpot_p99_ms,
        previous.tpot_p99_ms as previous_tpot_p99_ms,
        latest.e2e_p99_ms as latest_e2e_p99_ms,
        previous.e2e_p99_ms as previous_e2e_p99_ms,
        latest.error_share as latest_error_share,
        previous.error_share as previous_error_share
    from latest
    left join previous using (scenario_name)
),

final as (
    select
        *,
        (latest_output_throughput_tps - previous_output_throughput_tps)
            / nullif(previous_output_throughput_tps, 0) * 100 as output_throughput_change_pct,
        (latest_ttft_p99_ms - previous_ttft_p99_ms)
            / nullif(previous_ttft_p99_ms, 0) * 100 as ttft_p99_change_pct,
        (latest_tpot_p99_ms - previous_tpot_p99_ms)
            / nullif(previous_tpot_p99_ms, 0) * 100 as tpot_p99_change_pct,
        (latest_e2e_p99_ms - previous_e2e_p99_ms)
            / nullif(previous_e2e_p99_ms, 0) * 100 as e2e_p99_change_pct
    from paired
)

select * from final
