-- The same model and load point across hardware, latest comparable result of each.
-- params: model = null, since = null
select *
from hardware_comparison
where ($model is null or model_name = $model)
    and ($since is null or run_started_at >= cast($since as timestamptz))
order by model_name, load_profile, concurrency, rate_rps, tps_per_gpu_rank
