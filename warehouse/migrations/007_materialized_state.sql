-- 007: which version of the staging and intermediate view SQL the materialized tables
-- (scenario_metrics, scenario_replica_counts) were built with. When that SQL changes, the
-- next read-write open rebuilds them, so stored metrics never lag behind the view logic.
create table materialized_state (
    views_sha256  varchar not null,
    built_at      timestamptz not null default current_timestamp
);
