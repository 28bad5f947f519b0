-- Mart: every failed data check, with the scenario and run it belongs to.
with checks as (
    select * from stg_checks
    where not is_passed
),

scenarios as (
    select run_id, scenario_id, scenario_name, hardware_name, model_name, scenario_status
    from stg_scenarios
),

runs as (
    select run_id, run_started_at from stg_runs
),

final as (
    select
        checks.run_id,
        runs.run_started_at,
        checks.scenario_id,
        scenarios.scenario_name,
        scenarios.hardware_name,
        scenarios.model_name,
        scenarios.scenario_status,
        checks.check_name,
        checks.check_level,
        checks.observed_value,
        checks.expected_value,
        checks.check_message
    from checks
    left join scenarios using (run_id, scenario_id)
    left join runs using (run_id)
)

select * from final
