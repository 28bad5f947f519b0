-- 001: raw tables. One row per run, per (run, scenario), per request, per replica, per check.
-- Loads replace a run's rows by key (run_id) in one transaction, so no table needs an index
-- beyond the run/scenario keys.

create table runs (
    run_id          varchar primary key,
    matrix_name     varchar not null,
    matrix_path     varchar,
    git_revision    varchar,
    host            varchar,
    versions_json   json,
    started_at      timestamptz not null,
    ended_at        timestamptz,
    status          varchar not null check (status in ('running', 'completed', 'partial', 'failed')),
    loaded_at       timestamptz not null default current_timestamp
);

create table scenarios (
    run_id              varchar not null,
    scenario_id         varchar not null,
    scenario_name       varchar not null,
    hardware_name       varchar not null,
    gpu_name            varchar not null,
    gpu_count           integer not null,
    price_per_gpu_hour  double,
    model_name          varchar not null,
    dtype               varchar,
    engine              varchar,
    load_profile        varchar not null,
    modality            varchar not null,
    concurrency         integer,
    rate_rps            double,
    tp_degree           integer,
    replicas            integer,
    plan_json           json,
    spec_json           json,
    status              varchar not null
        check (status in ('passed', 'failed_validation', 'failed', 'skipped')),
    error_message       varchar,
    started_at          timestamptz,
    ended_at            timestamptz,
    t0                  timestamptz,
    duration_s          double
);

create table requests (
    run_id                varchar not null,
    scenario_id           varchar not null,
    request_index         bigint not null,
    is_warmup             boolean not null,
    worker_id             integer,
    intended_send_s       double,
    sent_s                double,
    first_byte_s          double,
    first_token_s         double,
    first_reasoning_s     double,
    last_event_s          double,
    done_s                double,
    event_count           integer,
    event_times_s         double[],
    event_tokens          integer[],
    prompt_tokens_target  integer,
    output_tokens_target  integer,
    prompt_tokens         integer,
    completion_tokens     integer,
    token_source          varchar,
    replica_id            varchar,
    http_status           integer,
    status                varchar not null,
    error_kind            varchar,
    error_message         varchar,
    modality              varchar,
    audio_seconds         double,
    server_arrival_s      double,
    server_first_token_s  double,
    server_last_token_s   double
);

create table replica_stats (
    run_id            varchar not null,
    scenario_id       varchar not null,
    replica_id        varchar not null,
    requests          bigint not null,
    share             double,
    upstream_mean_ms  double,
    upstream_p99_ms   double,
    errors            bigint not null default 0,
    source            varchar not null check (source in ('nginx', 'engine'))
);

create table checks (
    run_id       varchar not null,
    scenario_id  varchar not null,
    check_name   varchar not null,
    level        varchar not null check (level in ('request', 'scenario')),
    passed       boolean not null,
    observed     varchar,
    expected     varchar,
    message      varchar
);
