-- 006: checks.skipped, true when a check was not evaluated because a fact it needs was missing
-- (it then counts as passed).
alter table checks add column skipped boolean not null default false;
