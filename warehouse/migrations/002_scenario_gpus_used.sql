-- 002: GPUs a deployment actually occupied (tp_degree x replicas). Per-GPU throughput and cost
-- use it rather than the hardware entry's gpu_count, which may leave GPUs idle.
alter table scenarios add column gpus_used integer;

update scenarios
set gpus_used = coalesce(tp_degree * replicas, gpu_count);
