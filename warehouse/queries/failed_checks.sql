-- Failed data checks, newest run first (one run with run_id).
-- params: run_id = null, since = null
select *
from failed_checks
where ($run_id is null or run_id = $run_id)
    and ($since is null or run_started_at >= cast($since as timestamptz))
order by run_started_at desc, scenario_name, check_name
