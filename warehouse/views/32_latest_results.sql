-- Mart: the latest comparable result of each scenario name (failed validation excluded).
with ranked as (
    select * from comparable_runs
),

final as (
    select * exclude (run_rank)
    from ranked
    where run_rank = 1
)

select * from final
