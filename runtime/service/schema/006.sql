-- poolscale live store, schema version 6: job schedules (runtime/service/account_schedules.py).
-- One row per job schedule: id the id key (lower case), schedule_id the id as given; given the
-- schedule and jobSpecification as given (JSON), extras its displayName and metadata (JSON);
-- created and modified in engine seconds; history its states [[state, seconds], ...];
-- recurrence the state of its scheduler.schedules.Recurrence (JSON), so a restart re-arms it
-- and decides a due instant missed while down with its own instant.
CREATE TABLE job_schedules(
  id TEXT PRIMARY KEY,
  schedule_id TEXT NOT NULL,
  given TEXT NOT NULL,
  extras TEXT NOT NULL,
  created REAL NOT NULL,
  modified REAL NOT NULL,
  history TEXT NOT NULL,
  recurrence TEXT NOT NULL);
