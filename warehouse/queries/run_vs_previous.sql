-- Each comparable scenario of one run (default: latest) against the same scenario name's most
-- recent comparable result from an earlier run; flags changes worse than threshold_pct.
-- params: run_id = null, threshold_pct = 10.0
with this_run as (
    select *
    from scenario_summary
    where is_comparable
        and run_id = coalesce(
            $run_id,
            (select run_id from stg_runs order by run_started_at desc, run_id desc limit 1)
        )
),

earlier as (
    select
        this_run.scenario_name,
        earlier_run.run_id as previous_run_id,
        earlier_run.output_throughput_tps as previous_output_throughput_tps,
        earlier_run.ttft_p99_ms as previous_ttft_p99_ms,
        earlier_run.tpot_p99_ms as previous_tpot_p99_ms,
        row_number() over (
            partition by this_run.scenario_name
            order by earlier_run.run_started_at desc, earlier_run.run_id desc
        ) as recency
    from this_run
    inner join scenario_summary as earlier_run
        on earlier_run.scenario_name = this_run.scenario_name
        and earlier_run.is_comparable
        and earlier_run.run_started_at < this_run.run_started_at
),

paired as (
    select
        this_run.scenario_name,
        this_run.hardware_name,
        this_run.model_name,
        earlier.previous_run_id,
        this_run.output_throughput_tps,
        earlier.previous_output_throughput_tps,
        (this_run.output_throughput_tps - earlier.previous_output_throughput_tps)
            / nullif(earlier.previous_output_throughput_tps, 0) * 100
            as output_throughput_change_pct,
        this_run.ttft_p99_ms,
        earlier.previous_ttft_p99_ms,
        (this_run.ttft_p99_ms - earlier.previous_ttft_p99_ms)
            / nullif(earlier.previous_ttft_p99_ms, 0) * 100 as ttft_p99_change_pct,
        this_run.tpot_p99_ms,
        earlier.previous_tpot_p99_ms,
        (this_run.tpot_p99_ms - earlier.previous_tpot_p99_ms)
            / nullif(earlier.previous_tpot_p99_ms, 0) * 100 as tpot_p99_change_pct
    from this_run
    left join earlier
        on earlier.scenario_name = this_run.scenario_name and earlier.recency = 1
),

final as (
    select
        *,
        coalesce(
            output_throughput_change_pct < -$threshold_pct
            or ttft_p99_change_pct > $threshold_pct
            or tpot_p99_change_pct > $threshold_pct,
            false
        ) as is_regression
    from paired
)

select * from final
order by is_regression desc, scenario_name
