-- Per-request TTFT and TPOT of ok, measured requests of one run (default: latest), for plots.
-- At most about max_per_scenario rows per scenario: every k-th request by request_index.
-- params: run_id = null, max_per_scenario = 2000
with this_run as (
    select coalesce(
        $run_id,
        (select run_id from stg_runs order by run_started_at desc, run_id desc limit 1)
    ) as run_id
),

strides as (
    select
        scenarios.run_id,
        scenarios.scenario_id,
        scenarios.scenario_name,
        scenarios.hardware_name,
        greatest(1, ceil(metrics.request_count / $max_per_scenario))::bigint as stride
    from stg_scenarios as scenarios
    inner join scenario_metrics as metrics using (run_id, scenario_id)
    where scenarios.run_id = (select run_id from this_run)
)

select
    requests.run_id,
    strides.scenario_name,
    strides.hardware_name,
    requests.ttft_ms,
    requests.tpot_ms
from stg_requests as requests
inner join strides using (run_id, scenario_id)
where requests.is_ok
    and not requests.is_warmup
    and requests.request_index % strides.stride = 0
