-- 003: scenario_metrics, the int_scenario_metrics view materialized per run at load time
-- (dbt's incremental model): marts read this small table instead of re-aggregating every
-- request row on each query. Warehouse.load_run fills it for the run it loads; upgrading
-- from 002 backfills it for every stored run.
create table scenario_metrics (
    run_id               varchar not null,
    scenario_id          varchar not null,
    request_count        bigint,
    ok_count             bigint,
    error_count          bigint,
    error_share          double,
    within_slo_count     bigint,
    window_s             double,
    output_tokens        bigint,
    prompt_tokens        bigint,
    ttft_p50_ms          double,
    ttft_p90_ms          double,
    ttft_p99_ms          double,
    tpot_p50_ms          double,
    tpot_p90_ms          double,
    tpot_p99_ms          double,
    itl_event_p50_ms     double,
    itl_event_p90_ms     double,
    itl_event_p99_ms     double,
    e2e_p50_ms           double,
    e2e_p90_ms           double,
    e2e_p99_ms           double,
    dispatch_lag_p99_ms  double
);
