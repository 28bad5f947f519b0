-- Per-model throughput (output tokens/s per GPU) vs median TPOT points, frontier flagged.
-- params: model = null, frontier_only = false
select *
from pareto_frontier
where ($model is null or model_name = $model)
    and (not $frontier_only or is_pareto)
order by model_name, output_throughput_tps_per_gpu desc
