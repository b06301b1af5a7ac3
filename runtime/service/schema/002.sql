-- poolscale live store, schema version 2: what a node's view reports of the tasks it ran
-- (runtime/service/records.py), so that a restart keeps it: JSON
-- {"tasksRun", "tasksSucceeded", "recentTasks"} (recentTasks as records.py keeps them, times in
-- engine seconds). The node's allocation time goes in the existing column nodes.allocated.
ALTER TABLE nodes ADD COLUMN tasks TEXT;
