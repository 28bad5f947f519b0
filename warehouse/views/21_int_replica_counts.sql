-- Intermediate: measured requests per replica as the client saw them (the
-- x-benchmatrix-replica header). load_run materializes it per run into scenario_replica_counts.
with requests as (
    select * from stg_requests
    where not is_warmup and replica_id is not null
),

final as (
    select
        run_id,
        scenario_id,
        replica_id,
        count(*) as request_count,
        count(*) filter (where not is_ok) as error_count
    from requests
    group by run_id, scenario_id, replica_id
)

select * from final
