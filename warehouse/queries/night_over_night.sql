-- Each scenario's latest comparable result against its previous one.
-- params: model = null, since = null
select *
from night_over_night
where ($model is null or model_name = $model)
    and ($since is null or latest_run_started_at >= cast($since as timestamptz))
order by scenario_name
