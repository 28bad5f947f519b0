-- Mart: requests per replica per (run, scenario) from every source: NGINX or engine counts as
-- loaded, and 'client' counts from the x-benchmatrix-replica header of measured requests.
with reported as (
    select run_id, scenario_id, replica_id, request_count, error_count, count_source
    from stg_replica_stats
),

observed as (
    -- int_replica_counts, materialized per run by load_run
    select run_id, scenario_id, replica_id, request_count, error_count, 'client' as count_source
    from scenario_replica_counts
),

unioned as (
    select * from reported
    union all
    select * from observed
),

final as (
    select
        *,
        request_count / sum(request_count) over (
            partition by run_id, scenario_id, count_source
        ) as request_share
    from unioned
)

select * from final
