-- Staging: one row per request, with latencies in milliseconds.
--   ttft_ms          send -> first visible content event
--   ttft_any_ms      send -> first token of any kind (reasoning included)
--   tpot_ms          (last event - first token) / (completion_tokens - 1): first token excluded
--   itl_event_ms     mean gap between content events: (last - first event) / (events - 1)
--   e2e_ms           send -> last content event
--   dispatch_lag_ms  actual - intended send time (coordinated-omission guard)
with source as (
    select * from requests
),

renamed as (
    select
        run_id,
        scenario_id,
        request_id,
        request_index,
        is_warmup,
        worker_id,
        status,
        status = 'ok' as is_ok,
        error_kind,
        http_status,
        replica_id,
        modality,
        token_source,
        prompt_tokens_target,
        output_tokens_target,
        prompt_tokens,
        completion_tokens,
        event_count,
        reasoning_event_count,
        image_count,
        input_bytes,
        intended_send_s,
        sent_s,
        first_token_s,
        last_event_s,
        coalesce(done_s, last_event_s, sent_s) as finished_s,
        (sent_s - intended_send_s) * 1000 as dispatch_lag_ms,
        (first_token_s - sent_s) * 1000 as ttft_ms,
        (least(first_token_s, first_reasoning_s) - sent_s) * 1000 as ttft_any_ms,
        (last_event_s - sent_s) * 1000 as e2e_ms,
        case
            when completion_tokens > 1
                then (last_event_s - first_token_s) * 1000 / (completion_tokens - 1)
        end as tpot_ms,
        case
            when len(event_times_s) > 1
                then (event_times_s[-1] - event_times_s[1]) * 1000 / (len(event_times_s) - 1)
        end as itl_event_ms
    from source
),

final as (
    select * from renamed
)

select * from final
