-- Mart (table macro): each metric's latest value against the median of its previous
-- `window_runs` comparable runs; a regression is a change of more than `threshold_pct` percent
-- in the bad direction. The `regressions` view and the named query of that name call it.
-- table macro: (window_runs := 7, threshold_pct := 10.0)
with history as (
    select * from metric_history
    where len(previous_values) > 0
),

baselined as (
    select
        *,
        list_aggregate(list_slice(previous_values, 1, window_runs), 'median') as baseline_value,
        least(len(previous_values), window_runs) as baseline_run_count
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
            case
                when higher_is_better then change_pct < -threshold_pct
                else change_pct > threshold_pct
            end,
            false
        ) as is_regression
    from changed
)

select * from final
