-- Metrics whose latest value is worse than the median of the previous `window_runs` comparable
-- runs by more than `threshold_pct` percent. Set only_regressions = false to see every metric.
-- params: model = null, window_runs = 7, threshold_pct = 10.0, only_regressions = true
with baselined as (
    select
        *,
        list_aggregate(list_slice(previous_values, 1, $window_runs), 'median') as baseline_value,
        least(len(previous_values), $window_runs) as baseline_run_count
    from metric_history
    where len(previous_values) > 0
        and ($model is null or model_name = $model)
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
        latest_value,
        baseline_value,
        baseline_run_count,
        change_pct,
        coalesce(
            case
                when higher_is_better then change_pct < -$threshold_pct
                else change_pct > $threshold_pct
            end,
            false
        ) as is_regression
    from changed
)

select * from final
where not $only_regressions or is_regression
order by is_regression desc, abs(change_pct) desc nulls last, scenario_name, metric_name
