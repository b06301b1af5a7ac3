-- poolscale live store, schema version 3: what the REST API shows of jobs and tasks that the
-- engine does not model (runtime/service/kept.py): the properties of an add echoed as
-- given (displayName, metadata, userIdentity, ...), when a user last changed the job or task,
-- and a job's disable/enable instants. One row per job (task_id '') and per task that has any.
-- body: JSON {"extras": {...}, "modified": engine seconds, "transitions": [[state, seconds]]}.
CREATE TABLE rest_properties(
  job_id TEXT,
  task_id TEXT,
  body TEXT NOT NULL,
  PRIMARY KEY(job_id, task_id));
