-- Metrics whose latest value is worse than the median of the previous `window_runs` comparable
-- runs by more than `threshold_pct` percent. Set only_regressions = false to see every metric.
-- params: model = null, window_runs = 7, threshold_pct = 10.0, only_regressions = true
select *
from regressions_over(window_runs := $window_runs, threshold_pct := $threshold_pct)
where ($model is null or model_name = $model)
    and (not $only_regressions or is_regression)
order by is_regression desc, abs(change_pct) desc nulls last, scenario_name, metric_name
