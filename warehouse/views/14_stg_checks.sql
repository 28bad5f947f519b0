-- Staging: one row per data-check outcome.
with source as (
    select * from checks
),

renamed as (
    select
        run_id,
        scenario_id,
        check_name,
        level as check_level,
        passed as is_passed,
        skipped as is_skipped,
        observed as observed_value,
        expected as expected_value,
        message as check_message
    from source
),

final as (
    select * from renamed
)

select * from final
