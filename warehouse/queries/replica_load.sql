-- Requests and share per replica per scenario of one run (default: latest), by count source.
-- params: run_id = null
select
    replica_load.run_id,
    scenarios.scenario_name,
    replica_load.count_source,
    replica_load.replica_id,
    replica_load.request_count,
    replica_load.request_share,
    1 / scenarios.replica_count as expected_share,
    replica_load.error_count
from replica_load
inner join stg_scenarios as scenarios using (run_id, scenario_id)
where replica_load.run_id = coalesce(
        $run_id,
        (select run_id from stg_runs order by run_started_at desc, run_id desc limit 1)
    )
order by scenarios.scenario_name, replica_load.count_source, replica_load.replica_id
