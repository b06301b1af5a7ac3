"""The simulator's cost bounds, in one place so the documentation can list them.

Pool and workload files are untrusted: a few bytes can ask for 10^11 tasks, a pool of 10^308
nodes or a preemption every nanosecond. Each figure below bounds one thing a run allocates or
repeats, and every reader checks it *before* doing the work it bounds, so a file past a limit
costs a fraction of a second and ends in one :class:`~.documents.InputFileError` that names the
file, the field and the limit (exit 2 on the command line). Only the event limit, which rates
multiplying can reach, is checked as the events run. docs/simulate.md ("Limits") lists them
with the messages.

The figures come from what a run costs on a laptop (measured on a 2-core machine, 24 GB): a
task costs about 3 KB and 80 µs from its file to the report (reading, the engine's records, the
report's statistics); a node about 1 KB and 15 µs to create; a kernel event about 5-8 µs.
"""

from __future__ import annotations

from poolscale.formula.values import INTERVAL_MAX, TICKS_PER_SECOND

__all__ = [
    "MAX_TASKS", "MAX_DEPENDENCIES", "MAX_NODES_PER_KIND", "MAX_POOL_NODES", "MIN_MEAN_TIME_BETWEEN",
    "MAX_SECONDS", "MAX_SAMPLE_PERIODS", "MAX_EVALUATIONS", "RETRIES_AT_ONE_INSTANT",
    "MAX_EVENTS",
]

#: The most tasks a workload may hold: rows of a CSV file, records of an SWF trace (skipped
#: ones included), tasks and job managers of a JSON or YAML file, tasks a generator makes.
#: About 3 GB and under a minute from file to report (measured: 1,000,000 CSV rows, 2.9 GB
#: peak, 31 s to simulate; 12 s and 1.8 GB to read since plain rows skip pydantic's per-field
#: work, 39 s and 2.5 GB before), which fits the smaller CI machines; the largest
#: traces of the Parallel Workloads Archive hold fewer records. Readers count before they build
#: a task: a generator from its spec (count, rate x horizon, bursts x size), a text file by
#: its lines.
MAX_TASKS = 1_000_000

#: The most parents the tasks of a workload may name in all (``dependsOn.taskIds`` and the ids
#: of ``taskIdRanges``, each range spelt out or matched against its job's ids). A range is a few
#: bytes and may name 10^5 ids, each kept as a parent of its task (about 80 bytes and 0.6 µs):
#: 300 such tasks took 2.4 GB. At the limit, about 800 MB and 6 s.
MAX_DEPENDENCIES = 10_000_000

#: The most nodes of one kind a pool may hold: the largest ``simulation.maxNodesPerKind`` (the
#: configured maximum every target is clamped to) and the largest fixed target. A node costs
#: about 1 KB and 15 µs to create, so a full pool of both kinds is about 1 GB and 15 s.
MAX_NODES_PER_KIND = 500_000
#: The most nodes a pool holds, both kinds together.
MAX_POOL_NODES = 2 * MAX_NODES_PER_KIND

#: The shortest mean time between preemptions of a low-priority node, and between failures of a
#: node (seconds). Each is a run of events (the node's tasks sent back, recovery or repair, a new
#: start), so a mean of a nanosecond would repeat them for ever at one instant; real preemption
#: notices alone are 30 s.
MIN_MEAN_TIME_BETWEEN = 60.0

#: The longest duration any field may give (seconds): .NET's ``TimeSpan.MaxValue``, 2^63 - 1
#: ticks (``P10675199DT2H48M5.4775807S``), which is also the most the REST API can write. Every
#: duration in range converts to ticks without overflow; a longer one is refused by name.
MAX_SECONDS = INTERVAL_MAX / TICKS_PER_SECOND

#: The most sample periods a run may cover (a year and a month of 30 s samples): each is a
#: recorded sample and a timeline row, about 1 µs and 1 KB.
MAX_SAMPLE_PERIODS = 1_100_000

#: The most autoscale evaluations a run may hold (ten years at the shortest interval, PT5M): each
#: is a formula evaluation, some tens of µs. Only a sample period longer than the interval can
#: bring a run to it before MAX_SAMPLE_PERIODS.
MAX_EVALUATIONS = 1_100_000

#: A failing attempt of a task (or start or preparation task) that may be retried more often
#: than this, or without limit, lasts at least ``tasks.MIN_FAILED_ATTEMPT`` (1 s): otherwise a
#: zero-length command that always fails would be retried that many times at one instant, and
#: the clock would not move (a retry count may be 2^31 - 1).
RETRIES_AT_ONE_INSTANT = 100

#: The most kernel events one run may process: 5 to 10 minutes of work (a run that creates a
#: million nodes at every other evaluation reached it in 9 minutes, at 2.7 GB). The largest runs
#: the other limits admit take a few million (a million tasks with their exits, a year of
#: samples); only rates that multiply — unlimited retries of failing tasks, a formula that
#: replaces the whole pool at every evaluation, a large pool preempted hourly for a year — come
#: near it, and are stopped with the figures rather than left running for hours.
MAX_EVENTS = 50_000_000
