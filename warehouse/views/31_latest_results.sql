-- Mart: the latest comparable result of each scenario name (failed validation excluded).
with comparable as (
    select * from scenario_summary
    where is_comparable
),

ranked as (
    select
        *,
        row_number() over (
            partition by scenario_name order by run_started_at desc, run_id desc
        ) as run_rank
    from comparable
),

final as (
    select * exclude (run_rank)
    from ranked
    where run_rank = 1
)

select * from final
