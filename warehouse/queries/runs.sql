-- Runs, newest first, with scenario counts by status.
-- params: since = null, limit = 50
select
    runs.run_id,
    runs.matrix_name,
    runs.run_status,
    runs.run_started_at,
    runs.run_ended_at,
    runs.git_revision,
    count(scenarios.scenario_id) as scenario_count,
    count(*) filter (where scenarios.scenario_status = 'passed') as passed_count,
    count(*) filter (where scenarios.scenario_status = 'failed_validation') as failed_validation_count,
    count(*) filter (where scenarios.scenario_status = 'failed') as failed_count,
    count(*) filter (where scenarios.scenario_status = 'skipped') as skipped_count
from stg_runs as runs
left join stg_scenarios as scenarios using (run_id)
where $since is null or runs.run_started_at >= cast($since as timestamptz)
group by all
order by runs.run_started_at desc, runs.run_id desc
limit $limit
