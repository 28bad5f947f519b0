-- Staging: requests per replica as NGINX (or the engine) counted them.
with source as (
    select * from replica_stats
),

renamed as (
    select
        run_id,
        scenario_id,
        replica_id,
        requests as request_count,
        share as request_share,
        upstream_mean_ms,
        upstream_p99_ms,
        errors as error_count,
        source as count_source
    from source
),

final as (
    select * from renamed
)

select * from final
