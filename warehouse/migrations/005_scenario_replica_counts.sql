-- 005: scenario_replica_counts, the int_replica_counts view (requests per replica as the
-- client saw them) materialized per run at load time, like scenario_metrics (003), so
-- replica_load does not re-aggregate every request row.
create table scenario_replica_counts (
    run_id         varchar not null,
    scenario_id    varchar not null,
    replica_id     varchar not null,
    request_count  bigint not null,
    error_count    bigint not null
);
