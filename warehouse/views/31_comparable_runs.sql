-- Mart: every comparable scenario result (failed validation excluded), ranked per
-- scenario name from the newest run (run_rank 1) back. The latest/previous/history marts
-- read this instead of ranking on their own.
with comparable as (
    select * from scenario_summary
    where is_comparable
),

final as (
    select
        *,
        row_number() over (
            partition by scenario_name order by run_started_at desc, run_id desc
        ) as run_rank
    from comparable
)

select * from final
