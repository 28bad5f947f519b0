-- 004: the load generator's additional record columns (docs/CONTRACTS.md, "Load generator
-- additions"). Rows loaded before this migration keep NULL there.
alter table requests add column request_id varchar;
alter table requests add column reasoning_event_count integer;
alter table requests add column image_count integer;
alter table requests add column input_bytes bigint;
