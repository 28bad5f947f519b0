-- Staging: one row per run. Rename and cast only.
with source as (
    select * from runs
),

renamed as (
    select
        run_id,
        matrix_name,
        matrix_path,
        git_revision,
        host,
        versions_json,
        started_at as run_started_at,
        ended_at as run_ended_at,
        status as run_status,
        loaded_at
    from source
),

final as (
    select * from renamed
)

select * from final
