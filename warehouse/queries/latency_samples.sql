-- Per-request TTFT and TPOT of ok, measured requests of one run (default: latest), for plots.
-- params: run_id = null, max_per_scenario = 2000
with requests as (
    select
        requests.run_id,
        scenarios.scenario_name,
        scenarios.hardware_name,
        requests.ttft_ms,
        requests.tpot_ms,
        row_number() over (
            partition by requests.scenario_id order by hash(requests.request_index)
        ) as sample_rank
    from stg_requests as requests
    inner join stg_scenarios as scenarios using (run_id, scenario_id)
    where requests.is_ok and not requests.is_warmup
        and requests.run_id = coalesce(
            $run_id,
            (select run_id from stg_runs order by run_started_at desc, run_id desc limit 1)
        )
)

select run_id, scenario_name, hardware_name, ttft_ms, tpot_ms
from requests
where sample_rank <= $max_per_scenario
