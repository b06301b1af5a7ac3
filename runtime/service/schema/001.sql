-- poolscale live store, schema version 1.
-- Applied once, in one transaction, by poolscale.runtime.service.store.Store (which records the
-- version in schema_version). Never edit a shipped migration: add 002.sql instead.
-- Times (REAL) are engine seconds; *_ticks are .NET ticks (UTC) as AutoScaleRun reports them.
-- JSON columns (spec, resize_errors, start_task_info) hold the object as the API received it.
-- Foreign keys are checked at COMMIT (DEFERRABLE INITIALLY DEFERRED): the engine stages the rows
-- of a turn in any order, and a per-transaction PRAGMA defer_foreign_keys would cost ~70 us a turn.

-- account name, engine origin (UTC ticks), boot_id of the machine that last ran the engine
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);

CREATE TABLE pools(
  id TEXT PRIMARY KEY,
  spec TEXT NOT NULL,                       -- PoolSpec JSON as added
  state TEXT NOT NULL,                      -- active | deleting
  allocation_state TEXT NOT NULL,
  allocation_state_time REAL,
  target_dedicated INT,
  target_low_priority INT,
  dealloc_option TEXT,
  enable_auto_scale INT NOT NULL,
  auto_scale_formula TEXT,
  eval_interval_s REAL,
  autoscale_origin REAL,                    -- engine time of autoscale k = 0
  autoscale_next_k INT,
  sample_next_k INT,
  next_node_num INT NOT NULL,
  resize_errors TEXT,
  etag TEXT NOT NULL,
  created REAL,
  modified REAL);

CREATE TABLE nodes(
  pool_id TEXT REFERENCES pools DEFERRABLE INITIALLY DEFERRED,
  num INT,
  id TEXT,                                  -- tvm-000001
  kind INT,
  state TEXT,
  scheduling_enabled INT,
  life INT,
  inc INT,
  state_time REAL,
  allocated REAL,
  leave_option TEXT,
  retain_until REAL,
  start_task_attempts INT,
  start_task_info TEXT,                     -- JSON: exitCode, state, times
  root TEXT,
  ip TEXT,
  PRIMARY KEY(pool_id, num));

CREATE TABLE jobs(
  id TEXT PRIMARY KEY,
  seq INT UNIQUE,
  pool_id TEXT,
  spec TEXT NOT NULL,
  state TEXT,
  reason TEXT,
  priority INT,
  created REAL,
  ended REAL,
  completed REAL,
  jm_started INT,
  etag TEXT,
  modified REAL);

CREATE TABLE tasks(
  job_id TEXT REFERENCES jobs DEFERRABLE INITIALLY DEFERRED,
  id TEXT,
  seq INT,                                  -- the task's place in the queue
  spec TEXT NOT NULL,
  state TEXT NOT NULL,
  result TEXT,
  exit_code INT,
  failure_category TEXT,
  failure_code TEXT,
  retry_count INT,
  requeue_count INT,
  recovery_count INT,
  attempt INT,
  submit_time REAL,
  first_start REAL,
  start_time REAL,
  end_time REAL,
  node_ids TEXT,                            -- ","-joined, last placement
  dep_satisfies INT,
  blocked INT,
  etag TEXT,
  modified REAL,
  PRIMARY KEY(job_id, id));
CREATE INDEX tasks_state ON tasks(job_id, state);

CREATE TABLE attempts(
  uid TEXT PRIMARY KEY,
  job_id TEXT,
  task_id TEXT,                             -- NULL for start, preparation and release tasks
  kind TEXT NOT NULL,
  pool_id TEXT,
  node_num INT,
  instance INT,
  attempt_no INT,
  state TEXT NOT NULL,                      -- starting | running | exited | killed | orphan-killed
  pid INT,
  pgid INT,
  create_time REAL,
  boot_id TEXT,
  started_at REAL,
  ended_at REAL,
  exit_code INT,
  task_dir TEXT);
CREATE INDEX attempts_live ON attempts(state) WHERE state IN ('starting', 'running');

CREATE TABLE prep_records(
  pool_id TEXT,
  node_num INT,
  job_id TEXT,
  state TEXT,
  attempts INT,
  exit_code INT,
  PRIMARY KEY(pool_id, node_num, job_id));

CREATE TABLE autoscale_runs(
  pool_id TEXT,
  k INT,
  timestamp_ticks INT,
  results TEXT,
  error TEXT,
  applied INT,
  PRIMARY KEY(pool_id, k));

-- the formula's history survives a restart; sample_values = 14 float64, little-endian
-- ("values" is an SQL keyword, hence the longer name)
CREATE TABLE samples(
  pool_id TEXT,
  k INT,
  stamp_ticks INT,
  sample_values BLOB,
  PRIMARY KEY(pool_id, k));

-- retention timers: a task directory is deleted at delete_at
CREATE TABLE task_dirs(path TEXT PRIMARY KEY, delete_at REAL);
