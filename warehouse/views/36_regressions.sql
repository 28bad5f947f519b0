-- Mart: latest value against the median of the previous 7 comparable runs; a regression is a
-- change of more than 10 % in the bad direction. The named query `regressions` takes the
-- window and threshold as parameters; this view is its default.
with history as (
    select * from metric_history
    where len(previous_values) > 0
),

baselined as (
    select
        *,
        list_aggregate(list_slice(previous_values, 1, 7), 'median') as baseline_value,
        least(len(previous_values), 7) as baseline_run_count
    from history
),

changed as (
    select
        *,
        (latest_value - baseline_value) / nullif(abs(baseline_value), 0) * 100 as change_pct
    from baselined
),

final as (
    select
        scenario_name,
        model_name,
        hardware_name,
        metric_name,
        higher_is_better,
        latest_run_id,
        latest_run_started_at,
        latest_value,
        baseline_value,
        baseline_run_count,
        change_pct,
        coalesce(
            case when higher_is_better then change_pct < -10 else change_pct > 10 end, false
        ) as is_regression
    from changed
)

select * from final
