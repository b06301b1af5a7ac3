-- poolscale live store, schema version 5: auto pools (runtime/service/account_autopools.py).
-- One row per auto pool that exists: whose it is and how long it lives, so that after a
-- restart the end of its owner still deletes it. pool_id is the id key (lower case), id the
-- pool's id as made; owner is a job id (lifetime job) or a job schedule id (jobschedule);
-- spec is the autoPoolSpecification as given (JSON). jobs.auto_pool is a job's
-- autoPoolSpecification as given, which its view echoes after its pool is gone.
CREATE TABLE auto_pools(
  pool_id TEXT PRIMARY KEY,
  id TEXT NOT NULL,
  owner TEXT NOT NULL,
  lifetime TEXT NOT NULL,                   -- job | jobschedule
  keep_alive INT NOT NULL,
  spec TEXT NOT NULL);

ALTER TABLE jobs ADD COLUMN auto_pool TEXT;
