-- The TP plan of each scenario of one run (default: latest): degree, replicas and why.
-- params: run_id = null
select
    run_id,
    scenario_name,
    hardware_name,
    gpu_name,
    gpu_count,
    model_name,
    dtype,
    tp_degree,
    replica_count,
    gpus_used,
    scenario_status,
    plan_reason
from stg_scenarios
where run_id = coalesce(
        $run_id,
        (select run_id from stg_runs order by run_started_at desc, run_id desc limit 1)
    )
order by hardware_name, model_name, scenario_name
