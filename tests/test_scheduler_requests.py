"""Requests at any instant (docs/simulation-model.md#requests-at-any-instant): resize, stop a
resize, remove chosen nodes, disable and enable scheduling on a node, change a job's priority,
add a task, terminate, disable and enable a job.

The live service makes these requests between the engine's own events. Here a simulation gets
them through a test hook: each is a kernel event at rank SUBMIT, so it runs after the exits,
wall clocks and node timers of its instant and before the pass, as an API call does on the live
kernel. Every run checks the invariants after every event and every pass; the scenarios assert
the exact event log, and a hypothesis test throws random requests at random instants into the
random pools and workloads of tests/test_scheduler_invariants.py.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from poolscale.formula.values import Option
from poolscale.scheduler import Simulation
from poolscale.scheduler.invariants import check, checking_steps
from poolscale.scheduler.kernel import SUBMIT
from poolscale.scheduler.models import TaskSpec
from poolscale.scheduler.nodes import LEAVINGPOOL, Node
from test_scheduler_invariants import scenarios
from test_scheduler_scenarios import T0, job, jobs, pool, task

REQUEUE, TERMINATE, TASKCOMPLETION = Option.REQUEUE, Option.TERMINATE, Option.TASKCOMPLETION


def run(p, w, requests, horizon=3600, **kw):
    """Run with ``requests``: (instant, function of the simulation) pairs, each called at its
    instant as a SUBMIT-rank event; the invariants hold after every step."""
    sim = Simulation(p, w, start=T0, horizon=horizon, **kw)
    for at, request in requests:
        sim.kernel.at(float(at), SUBMIT, lambda f, _: f(sim), request)
    sim.run(on_step=lambda after_pass: check(sim, after_pass=after_pass))
    return sim, sim.result()


def log(result, *kinds):
    return [e for e in result.events if e[1] in kinds]


def node(sim, num):
    return sim.nodes[num]


def job_of(sim, job_id="j"):
    return next(j for j in sim.jobs if j.id == job_id)


def tasks_of(sim, job_id="j"):
    return {t.id: t for t in job_of(sim, job_id).tasks}


def spec(id, duration=100, **kw) -> TaskSpec:
    return TaskSpec.model_validate(task(id, duration, **kw))


# -- resize and stop resize ----------------------------------------------------------------------


def test_a_resize_request_grows_a_fixed_pool_and_shrinks_it_with_its_option():
    p = pool(targetDedicatedNodes=2, simulation={"allocationTime": 10})
    w = jobs(job(tasks=[task("a", 100), task("b", 100)]))
    sim, r = run(p, w, [(50, lambda s: s.resize(3, 0)),
                        (80, lambda s: s.resize(1, 0, TERMINATE))], horizon=200)
    assert log(r, "pool.target", "pool.state", "node", "node.deallocate", "task.end") == [
        (0.0, "pool.state", "resizing"),
        (0.0, "node", "tvm-000001", "creating", "dedicated"),
        (0.0, "node", "tvm-000002", "creating", "dedicated"),
        (10.0, "node", "tvm-000001", "starting"),
        (10.0, "node", "tvm-000002", "starting"),
        (10.0, "pool.state", "steady"),
        (10.0, "node", "tvm-000001", "idle"),
        (10.0, "node", "tvm-000002", "idle"),
        (10.0, "node", "tvm-000001", "running"),
        (10.0, "node", "tvm-000002", "running"),
        (50.0, "pool.target", 3, 0, "requeue"),
        (50.0, "pool.state", "resizing"),
        (50.0, "node", "tvm-000003", "creating", "dedicated"),
        (60.0, "node", "tvm-000003", "starting"),
        (60.0, "pool.state", "steady"),
        (60.0, "node", "tvm-000003", "idle"),
        # the idle node first, then the running node with fewest slots used, then by id
        (80.0, "pool.target", 1, 0, "terminate"),
        (80.0, "pool.state", "resizing"),
        (80.0, "node.deallocate", "tvm-000003", "terminate"),
        (80.0, "node.deallocate", "tvm-000001", "terminate"),
        (80.0, "node", "tvm-000003", "leavingpool"),
        (80.0, "node", "tvm-000003", "removed"),
        (80.0, "node", "tvm-000001", "leavingpool"),
        (80.0, "task.end", "j/a", "failure", None),
        (80.0, "node", "tvm-000001", "removed"),
        (80.0, "pool.state", "steady"),
        (110.0, "task.end", "j/b", "success", 0),
        (110.0, "node", "tvm-000002", "idle"),
    ]
    assert sim.target == [1, 0] and sim.n_present == [1, 0]
    assert tasks_of(sim)["a"].failure == ("usererror", "TaskEnded")


def test_a_resize_request_sets_the_resize_timeout():
    p = pool(targetDedicatedNodes=1, simulation={"allocationTime": 1000})
    sim, r = run(p, jobs(), [(0, lambda s: s.stop_resize()),
                             (2000, lambda s: s.resize(2, 0, resize_timeout=400.0))],
                 horizon=3000)
    assert log(r, "pool.state", "pool.resize_error")[-3:] == [
        (2000.0, "pool.state", "resizing"),
        (2400.0, "pool.resize_error", "AllocationTimedout"),
        (2400.0, "pool.state", "steady"),
    ]
    assert sim.resize_timeout == 400.0 and sim.n_present == [1, 0]


def test_stop_resize_keeps_the_nodes_the_pool_has_and_the_targets():
    p = pool(targetDedicatedNodes=3, simulation={"allocationTime": 100},
             resizeTimeout="PT10M")
    states = []
    sim, r = run(p, jobs(), [(50, lambda s: states.append((s.stop_resize(), s.stop_resize()))),
                             (400, lambda s: s.resize(4, 0))], horizon=1000)
    assert states == [(True, False)]           # a second stop finds the pool already steady
    assert log(r, "pool.state", "pool.resize_error", "pool.target", "node")[:12] == [
        (0.0, "pool.state", "resizing"),
        (0.0, "node", "tvm-000001", "creating", "dedicated"),
        (0.0, "node", "tvm-000002", "creating", "dedicated"),
        (0.0, "node", "tvm-000003", "creating", "dedicated"),
        # nothing is leaving, so stopping ends at once; the nodes still allocating stay
        (50.0, "pool.state", "stopping"),
        (50.0, "pool.resize_error", "ResizeStopped"),
        (50.0, "pool.state", "steady"),
        (100.0, "node", "tvm-000001", "starting"),
        (100.0, "node", "tvm-000002", "starting"),
        (100.0, "node", "tvm-000003", "starting"),
        (100.0, "node", "tvm-000001", "idle"),
        (100.0, "node", "tvm-000002", "idle"),
    ]
    # the stopped resize's timeout (600 s) did not fire; the next resize clears the error
    assert [e for e in log(r, "pool.resize_error") if e[2] == "AllocationTimedout"] == []
    assert log(r, "pool.target")[0] == (400.0, "pool.target", 4, 0, "requeue")
    assert sim.n_present == [4, 0] and sim.resize_errors == []
    assert r.report["resize_errors"][0]["code"] == "ResizeStopped"
    assert r.report["resize_errors"][0]["message"] == (
        "at 2026-01-05T00:00:50.000Z a request stopped the resize before its targets were met: the "
        "pool kept the nodes it had")


def test_a_stopped_resize_stays_stopping_while_nodes_leave():
    p = pool(targetDedicatedNodes=2)
    w = jobs(job(tasks=[task("a", 100), task("b", 300)]))
    sim, r = run(p, w, [(10, lambda s: s.resize(0, 0, TASKCOMPLETION, resize_timeout=100.0)),
                        (20, lambda s: s.stop_resize())], horizon=400)
    assert log(r, "pool.state", "pool.resize_error", "node")[-8:] == [
        (10.0, "pool.state", "resizing"),
        (10.0, "node", "tvm-000001", "leavingpool"),
        (10.0, "node", "tvm-000002", "leavingpool"),
        (20.0, "pool.state", "stopping"),
        (20.0, "pool.resize_error", "ResizeStopped"),
        (100.0, "node", "tvm-000001", "removed"),
        (300.0, "node", "tvm-000002", "removed"),
        (300.0, "pool.state", "steady"),
    ]
    assert [row["allocation_state"] for row in r.timeline_rows[:2]] == ["stopping", "stopping"]
    # the stopped resize's timeout (at 110 s) is void: no AllocationTimedout while stopping
    assert sim.resize_errors == ["ResizeStopped"]


def test_resize_refuses_negative_targets():
    sim = Simulation(pool(targetDedicatedNodes=1), jobs(), start=T0, horizon=10)
    with pytest.raises(ValueError, match="targets must be at least 0, not -1, 0"):
        sim.resize(-1, 0)


# -- remove nodes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("option", [REQUEUE, TERMINATE])
def test_remove_nodes_lowers_the_target_by_the_nodes_removed(option):
    p = pool(targetDedicatedNodes=3, targetLowPriorityNodes=1)
    w = jobs(job(tasks=[task(i, 100) for i in range(4)]))
    sim, r = run(p, w, [(30, lambda s: s.remove_nodes([s.nodes[2], s.nodes[4]], option))],
                 horizon=300)

    def ended(key):
        return ((30.0, "task.requeue", key) if option is REQUEUE
                else (30.0, "task.end", key, "failure", None))

    assert [e for e in r.events if e[0] == 30.0 and e[1] != "sample"] == [
        (30.0, "pool.target", 2, 0, option.value),
        (30.0, "pool.state", "resizing"),
        (30.0, "node.deallocate", "tvm-000002", option.value),
        (30.0, "node.deallocate", "tvm-000004", option.value),
        (30.0, "node", "tvm-000002", "leavingpool"),
        ended("j/1"),
        (30.0, "node", "tvm-000002", "removed"),
        (30.0, "node", "tvm-000004", "leavingpool"),
        ended("j/3"),
        (30.0, "node", "tvm-000004", "removed"),
        (30.0, "pool.state", "steady"),
    ]
    assert sim.target == [2, 0] and sorted(sim.nodes) == [1, 3]
    t = tasks_of(sim)
    assert [(t[k].requeue_count, t[k].result) for k in "13"] == (
        [(1, "success")] * 2 if option is REQUEUE else [(0, "failure")] * 2)


def test_remove_nodes_with_taskcompletion_waits_and_the_resize_step_picks_no_other_node():
    p = pool(targetDedicatedNodes=3)
    w = jobs(job(tasks=[task("a", 100), task("b", 50), task("c", 200)]))
    # tvm-000002 ends its task first: a resize step while tvm-000003 is not yet leaving would
    # pick the idle node instead
    sim, r = run(p, w, [(10, lambda s: s.remove_nodes([s.nodes[1], s.nodes[3]],
                                                      TASKCOMPLETION))], horizon=400)
    assert log(r, "pool.state", "node")[-7:] == [
        (10.0, "pool.state", "resizing"),
        (10.0, "node", "tvm-000001", "leavingpool"),
        (10.0, "node", "tvm-000003", "leavingpool"),
        (50.0, "node", "tvm-000002", "idle"),
        (100.0, "node", "tvm-000001", "removed"),
        (200.0, "node", "tvm-000003", "removed"),
        (200.0, "pool.state", "steady"),
    ]


def test_removing_a_preempted_node_removes_it_at_once():
    p = pool(targetDedicatedNodes=1, targetLowPriorityNodes=1,
             simulation={"preemption": {"meanTimeBetween": 60, "recoveryTime": 10_000}})
    sim, r = run(p, jobs(), [(1000, lambda s: s.remove_nodes([s.nodes[2]]))], horizon=1200,
                 seed=1)
    preempted = log(r, "node.preempt")
    assert preempted and preempted[0][0] < 1000 and preempted[0][2] == "tvm-000002"
    assert log(r, "node")[-1] == (1000.0, "node", "tvm-000002", "removed")
    assert sim.target == [1, 0] and sim.n_present == [1, 0] and sim.n_preempted == 0


def test_remove_nodes_refuses_a_node_already_leaving_before_changing_anything():
    p = pool(targetDedicatedNodes=2)
    w = jobs(job(tasks=[task("a", 100)]))
    errors = []

    def request(s):
        s.remove_nodes([s.nodes[1]], TASKCOMPLETION)
        with pytest.raises(ValueError) as e:
            s.remove_nodes([s.nodes[2], s.nodes[1]])
        errors.append((str(e.value), list(s.target), s.nodes[2].state))

    run(p, w, [(10, request)], horizon=50)
    assert errors == [("tvm-000001 is already leaving the pool", [1, 0], "idle")]


# -- disable and enable scheduling on a node ------------------------------------------------------


def _two_nodes_three_tasks(option, enable_at=150):
    p = pool(targetDedicatedNodes=2)
    w = jobs(job(tasks=[task("a", 100), task("b", 100), task("c", 100)]))
    return run(p, w, [(10, lambda s: s.disable_scheduling(s.nodes[1], option)),
                      (enable_at, lambda s: s.enable_scheduling(s.nodes[1]))], horizon=400)


def test_disable_scheduling_with_requeue_requeues_and_goes_offline_until_enabled():
    sim, r = _two_nodes_three_tasks(REQUEUE)
    assert log(r, "node", "node.disable", "node.enable", "task.start", "task.end",
               "task.requeue")[10:] == [
        (10.0, "node.disable", "tvm-000001", "requeue"),
        (10.0, "task.requeue", "j/a"),
        (10.0, "node", "tvm-000001", "offline"),
        (100.0, "task.end", "j/b", "success", 0),
        (100.0, "node", "tvm-000002", "idle"),
        (100.0, "node", "tvm-000002", "running"),
        (100.0, "task.start", "j/a", "tvm-000002"),     # a keeps its place ahead of c
        (150.0, "node.enable", "tvm-000001"),
        (150.0, "node", "tvm-000001", "idle"),
        (150.0, "node", "tvm-000001", "running"),
        (150.0, "task.start", "j/c", "tvm-000001"),
        (200.0, "task.end", "j/a", "success", 0),
        (200.0, "node", "tvm-000002", "idle"),
        (250.0, "task.end", "j/c", "success", 0),
        (250.0, "node", "tvm-000001", "idle"),
    ]
    assert tasks_of(sim)["a"].requeue_count == 1
    # an offline node is present, sampled and billed, but not usable
    row = r.timeline_rows[0]            # at 30 s
    assert (row["dedicated"], row["usable"]) == (2, 1)


def test_disable_scheduling_with_terminate_fails_the_tasks():
    sim, r = _two_nodes_three_tasks(TERMINATE)
    assert log(r, "node.disable", "task.end", "node")[8:11] == [
        (10.0, "node.disable", "tvm-000001", "terminate"),
        (10.0, "task.end", "j/a", "failure", None),
        (10.0, "node", "tvm-000001", "offline"),
    ]
    assert tasks_of(sim)["a"].failure == ("usererror", "TaskEnded")


def test_disable_scheduling_with_taskcompletion_lets_tasks_end_then_goes_offline():
    sim, r = _two_nodes_three_tasks(TASKCOMPLETION)
    assert log(r, "node", "node.disable", "node.enable", "task.start", "task.end")[10:] == [
        (10.0, "node.disable", "tvm-000001", "taskcompletion"),
        (100.0, "task.end", "j/a", "success", 0),
        (100.0, "node", "tvm-000001", "offline"),       # not idle: it takes nothing new
        (100.0, "task.end", "j/b", "success", 0),
        (100.0, "node", "tvm-000002", "idle"),
        (100.0, "node", "tvm-000002", "running"),
        (100.0, "task.start", "j/c", "tvm-000002"),
        (150.0, "node.enable", "tvm-000001"),
        (150.0, "node", "tvm-000001", "idle"),
        (200.0, "task.end", "j/c", "success", 0),
        (200.0, "node", "tvm-000002", "idle"),
    ]
    # running with scheduling disabled, the node is still usable (its task runs); offline not
    assert [row["usable"] for row in r.timeline_rows[:5]] == [2, 2, 2, 1, 2]


def test_a_disabled_node_with_free_slots_takes_no_task_while_its_tasks_end():
    p = pool(vmSize="D2", taskSlotsPerNode=2, targetDedicatedNodes=1)
    w = jobs(job(tasks=[task("a", 50), task("b", 100), task("c", 10, submitTime=20)]))
    sim, r = run(p, w, [(10, lambda s: s.disable_scheduling(s.nodes[1], TASKCOMPLETION)),
                        (150, lambda s: s.enable_scheduling(s.nodes[1]))], horizon=300)
    assert log(r, "task.end", "task.start", "node")[4:12] == [
        (0.0, "task.start", "j/a", "tvm-000001"),
        (0.0, "task.start", "j/b", "tvm-000001"),
        (50.0, "task.end", "j/a", "success", 0),     # a slot is free, but not offered
        (100.0, "task.end", "j/b", "success", 0),
        (100.0, "node", "tvm-000001", "offline"),
        (150.0, "node", "tvm-000001", "idle"),
        (150.0, "node", "tvm-000001", "running"),
        (150.0, "task.start", "j/c", "tvm-000001"),
    ]


def test_a_disabled_node_boots_offline_and_takes_tasks_once_enabled():
    p = pool(targetDedicatedNodes=1, simulation={"allocationTime": 20})
    w = jobs(job(tasks=[task("a", 10)], jobPreparationTask={"duration": 0},
                 jobReleaseTask={"duration": 30}, onAllTasksComplete="terminatejob",
                 creationTime=0))
    sim, r = run(p, w, [(0, lambda s: s.disable_scheduling(s.nodes[1], TASKCOMPLETION)),
                        (100, lambda s: s.enable_scheduling(s.nodes[1]))], horizon=200)
    assert log(r, "node", "node.disable", "node.enable", "task.start", "release.start",
               "release.end")[1:] == [
        (0.0, "node.disable", "tvm-000001", "taskcompletion"),
        (20.0, "node", "tvm-000001", "starting"),
        (20.0, "node", "tvm-000001", "offline"),        # booted, not idle
        (100.0, "node.enable", "tvm-000001"),
        (100.0, "node", "tvm-000001", "idle"),
        (100.0, "node", "tvm-000001", "running"),
        (100.0, "task.start", "j/a", "tvm-000001"),
        (110.0, "node", "tvm-000001", "idle"),
        (110.0, "node", "tvm-000001", "running"),
        (110.0, "release.start", "j", "tvm-000001"),
        (140.0, "release.end", "j", "tvm-000001"),
        (140.0, "node", "tvm-000001", "idle"),
    ]


def test_a_release_task_on_an_offline_node_runs_and_leaves_it_offline():
    p = pool(targetDedicatedNodes=1)
    w = jobs(job(tasks=[task("a", 10)], jobPreparationTask={"duration": 0},
                 jobReleaseTask={"duration": 30}))
    sim, r = run(p, w, [(50, lambda s: s.disable_scheduling(s.nodes[1])),
                        (60, lambda s: s.terminate_job(job_of(s)))], horizon=200)
    assert log(r, "node", "release.start", "release.end")[-6:] == [
        (10.0, "node", "tvm-000001", "idle"),
        (50.0, "node", "tvm-000001", "offline"),
        (60.0, "node", "tvm-000001", "running"),
        (60.0, "release.start", "j", "tvm-000001"),
        (90.0, "release.end", "j", "tvm-000001"),
        (90.0, "node", "tvm-000001", "offline"),
    ]
    assert (sim.n_usable, sim.index.count) == (0, [0])


def test_an_offline_node_leaves_with_the_idle_ones_by_id():
    p = pool(targetDedicatedNodes=2)
    sim, r = run(p, jobs(), [(10, lambda s: s.disable_scheduling(s.nodes[1])),
                             (20, lambda s: s.resize(1, 0))], horizon=100)
    assert log(r, "node.deallocate") == [(20.0, "node.deallocate", "tvm-000001", "requeue")]
    assert sorted(sim.nodes) == [2]


def test_an_offline_node_can_fail_and_comes_back_offline():
    p = pool(targetDedicatedNodes=1,
             simulation={"nodeFailure": {"meanTimeBetween": 600, "repairTime": 50}})
    sim, r = run(p, jobs(), [(0, lambda s: s.disable_scheduling(s.nodes[1]))], horizon=1000,
                 seed=3)
    failed = log(r, "node.fail")
    assert failed, "the seed gives no failure within the horizon"
    t = failed[0][0]
    assert [e for e in log(r, "node") if t <= e[0] <= t + 50][:3] == [
        (t, "node", "tvm-000001", "unusable"),
        (t + 50, "node", "tvm-000001", "starting"),
        (t + 50, "node", "tvm-000001", "offline"),
    ]


def test_disabling_twice_or_enabling_an_enabled_node_changes_nothing():
    p = pool(targetDedicatedNodes=1)
    answers = []
    run(p, jobs(), [(10, lambda s: answers.extend([s.enable_scheduling(s.nodes[1]),
                                                   s.disable_scheduling(s.nodes[1]),
                                                   s.disable_scheduling(s.nodes[1], TERMINATE),
                                                   s.enable_scheduling(s.nodes[1])]))],
        horizon=20)
    assert answers == [False, True, False, True]
    sim = Simulation(p, jobs(), start=T0, horizon=10)
    with pytest.raises(ValueError, match="not retaineddata"):
        sim.disable_scheduling(sim._request_node(0), Option.RETAINEDDATA)
    gone = sim._request_node(0)
    sim._remove(gone)
    for request in (sim.disable_scheduling, sim.enable_scheduling,
                    lambda n: sim.remove_nodes([n])):
        with pytest.raises(ValueError, match="tvm-000002 is not a node of this pool"):
            request(gone)


def test_a_run_exclusive_manager_keeps_its_node_out_of_the_index_after_enable():
    p = pool(vmSize="D2", taskSlotsPerNode=2, targetDedicatedNodes=1)
    w = jobs(job(tasks=[task("t", 10)],
                 jobManagerTask={"id": "jm", "duration": 100, "runExclusive": True,
                                 "killJobOnCompletion": False}))
    sim, r = run(p, w, [(20, lambda s: s.disable_scheduling(s.nodes[1], TASKCOMPLETION)),
                        (30, lambda s: s.enable_scheduling(s.nodes[1]))], horizon=300)
    # the manager runs alone until it ends at 100, enabled or not
    assert [(e[0], e[2]) for e in log(r, "task.start")] == [(0.0, "j/jm"), (100.0, "j/t")]


# -- job priority, added tasks --------------------------------------------------------------------


def test_a_priority_change_reorders_the_queue_at_the_next_pass():
    p = pool(targetDedicatedNodes=1)
    w = jobs(job("first", [task(i, 100) for i in range(2)]),
             job("second", [task(i, 100) for i in range(2)]))
    sim, r = run(p, w, [(50, lambda s: s.set_job_priority(job_of(s, "second"), 5))],
                 horizon=500)
    assert [(e[0], e[2]) for e in log(r, "task.start")] == [
        (0.0, "first/0"), (100.0, "second/0"), (200.0, "second/1"), (300.0, "first/1")]
    assert log(r, "job.priority") == [(50.0, "job.priority", "second", 5)]
    assert job_of(sim, "second").key[0] == -5


def test_a_priority_change_moves_a_waiting_job_manager_too():
    p = pool(targetDedicatedNodes=1)
    w = jobs(job("busy", [task(0, 100)]),
             job("managed", [], jobManagerTask={"id": "jm", "duration": 10}, creationTime=1),
             job("other", [task(0, 10)], creationTime=2))
    sim, r = run(p, w, [(50, lambda s: s.set_job_priority(job_of(s, "other"), 1))],
                 horizon=500)
    assert [(e[0], e[2]) for e in log(r, "task.start")] == [
        (0.0, "busy/0"), (100.0, "other/0"), (110.0, "managed/jm")]


def test_a_priority_out_of_range_is_refused():
    sim = Simulation(pool(targetDedicatedNodes=1), jobs(job(tasks=[task("a")])), start=T0,
                     horizon=10)
    with pytest.raises(ValueError, match="from -1000 to 1000, not 1001"):
        sim.set_job_priority(sim.jobs[0], 1001)


def test_an_added_task_queues_after_the_workload_and_resolves_dependencies_now():
    p = pool(targetDedicatedNodes=1)
    w = jobs(job(tasks=[task("1", 100), task("2", 100, submitTime=500)],
                 usesTaskDependencies=True))
    added = []

    def add(s):
        j = job_of(s)
        added.append(s.add_task(j, spec("x", 10)))
        # parent 1 runs, parent 2 is not submitted yet: waits for both
        added.append(s.add_task(j, spec("y", 10, dependsOn={"taskIds": ["1", "2"]})))
        added.append(s.add_task(j, spec("z", 10, dependsOn={"taskIdRanges": [
            {"start": 1, "end": 1}]})))

    sim, r = run(p, w, [(50, add)], horizon=1000)
    assert [t.seq for t in added] == [2, 3, 4]        # after the workload's 2 submissions
    assert [(e[0], e[2]) for e in log(r, "task.start")] == [
        (0.0, "j/1"), (100.0, "j/x"), (110.0, "j/z"), (500.0, "j/2"), (600.0, "j/y")]
    assert log(r, "task.submit")[1:4] == [(50.0, "task.submit", "j/x"),
                                          (50.0, "task.submit", "j/y"),
                                          (50.0, "task.submit", "j/z")]
    assert r.report["tasks"]["submitted"] == 5 and r.report["tasks"]["not_submitted"] == 0


@pytest.mark.parametrize("general", [False, True])
def test_an_engine_on_its_general_paths_keeps_added_tasks_on_them(general):
    sim = Simulation(pool(targetDedicatedNodes=1), jobs(job(tasks=[task("a")])), start=T0,
                     horizon=10)
    if general:
        sim.use_general_paths()
    added = sim.add_task(sim.jobs[0], spec("b", 10))
    assert added.simple is not general


def test_a_task_added_to_an_ended_job_is_rejected_and_a_pending_job_is_created():
    p = pool(targetDedicatedNodes=1)
    w = jobs(job("ended", [task("a", 10)], onAllTasksComplete="terminatejob"),
             job("later", [task("b", 10, submitTime=900)]))

    def add(s):
        s.add_task(job_of(s, "ended"), spec("x", 10))
        s.add_task(job_of(s, "later"), spec("y", 10), seq=100)

    sim, r = run(p, w, [(50, add)], horizon=1000)
    assert [e for e in log(r, "task.reject", "job") if e[0] == 50.0] == [
        (50.0, "task.reject", "ended/x", "completed"),
        (50.0, "job", "later", "active"),
    ]
    assert sim.next_seq == 101 and r.report["tasks"]["rejected"] == 1
    assert [(e[0], e[2]) for e in log(r, "task.start")] == [
        (0.0, "ended/a"), (50.0, "later/y"), (900.0, "later/b")]


def test_a_wide_range_finds_an_added_task_among_the_jobs_ids(monkeypatch):
    import poolscale.scheduler.tasks as tasks_module

    monkeypatch.setattr(tasks_module, "EXPAND_LIMIT", 10)
    p = pool(targetDedicatedNodes=1)
    w = jobs(job(tasks=[task("1", 10), task("2", 10)], usesTaskDependencies=True))

    def add(s):
        j = job_of(s)
        s.add_task(j, spec("3", 10))
        s.add_task(j, spec("4", 10))
        s.add_task(j, spec("w", 10, dependsOn={"taskIdRanges": [{"start": 1, "end": 1000}]}))
        s.add_task(j, spec("5", 10))                 # w's first missing id, now a task
        s.add_task(j, spec("v", 10, dependsOn={"taskIdRanges": [{"start": 1, "end": 1000}]}))

    sim, r = run(p, w, [(50, add)], horizon=1000)
    t = tasks_of(sim)
    assert t["w"].depends == ["1", "2", "3", "4", "5"]
    assert t["v"].depends == ["1", "2", "3", "4", "5", "6"]
    assert t["w"].state == "completed" and t["v"].state == "active"


# -- terminate, disable and enable a job ----------------------------------------------------------


def test_terminate_job_by_request():
    p = pool(targetDedicatedNodes=1)
    w = jobs(job(tasks=[task("a", 100), task("b", 100)]))
    answers = []
    sim, r = run(p, w, [(30, lambda s: answers.append(s.terminate_job(job_of(s)))),
                        (40, lambda s: answers.append(s.terminate_job(job_of(s))))],
                 horizon=200)
    assert log(r, "job", "task.end") == [
        (0.0, "job", "j", "active"),
        (30.0, "job", "j", "terminating", "UserTerminate"),
        (30.0, "task.end", "j/a", "failure", None),
        (30.0, "job", "j", "completed"),
    ]
    assert answers == [True, False] and tasks_of(sim)["b"].state == "active"


@pytest.mark.parametrize("option, expected", [
    ("requeue", [(0.0, "j/a"), (100.0, "j/a"), (200.0, "j/b")]),
    ("wait", [(0.0, "j/a"), (100.0, "j/b")]),
    ("terminate", [(0.0, "j/a"), (100.0, "j/b")]),
])
def test_disable_and_enable_a_job(option, expected):
    p = pool(targetDedicatedNodes=1)
    w = jobs(job(tasks=[task("a", 100), task("b", 100)]))
    sim, r = run(p, w, [(30, lambda s: s.disable_job(job_of(s), option)),
                        (100, lambda s: s.enable_job(job_of(s)))], horizon=400)
    assert [(e[0], e[2]) for e in log(r, "task.start")] == expected
    assert log(r, "job")[1:] == [(30.0, "job", "j", "disabled"), (100.0, "job", "j", "active")]
    a = tasks_of(sim)["a"]
    assert (a.requeue_count, a.result, a.failure) == {
        "requeue": (1, "success", None), "wait": (0, "success", None),
        "terminate": (0, "failure", ("usererror", "TaskEnded"))}[option]
    # while the job is disabled its ready tasks are not counted in $ActiveTasks (at 60 s)
    assert (r.timeline_rows[1]["active_tasks"], r.timeline_rows[1]["tasks_active"]) == (
        0, 2 if option == "requeue" else 1)


def test_enabling_a_job_requeues_its_waiting_manager_and_may_end_it():
    p = pool(targetDedicatedNodes=1)
    w = jobs(job("busy", [task(0, 100)]),
             job("m", [], jobManagerTask={"id": "jm", "duration": 10}, creationTime=1),
             job("done", [task(0, 10)], onAllTasksComplete="terminatejob", creationTime=2,
                 priority=10))
    answers = []

    def disable(s):
        answers.append(s.disable_job(job_of(s, "m"), "wait"))
        answers.append(s.disable_job(job_of(s, "m"), "wait"))

    sim, r = run(p, w, [(5, disable), (6, lambda s: s.disable_job(job_of(s, "done"), "wait")),
                        (150, lambda s: answers.append(s.enable_job(job_of(s, "m")))),
                        (160, lambda s: answers.append(s.enable_job(job_of(s, "m"))))],
                 horizon=400)
    assert answers == [True, False, True, False]
    assert [(e[0], e[2]) for e in log(r, "task.start")] == [
        (0.0, "busy/0"), (150.0, "m/jm")]
    assert [e for e in log(r, "job") if e[2] == "done"] == [
        (2.0, "job", "done", "active"), (6.0, "job", "done", "disabled")]


def test_a_disabled_job_whose_tasks_all_ended_terminates_when_enabled():
    p = pool(targetDedicatedNodes=1)
    w = jobs(job(tasks=[task("a", 100)], onAllTasksComplete="terminatejob"))
    sim, r = run(p, w, [(10, lambda s: s.disable_job(job_of(s), "wait")),
                        (150, lambda s: s.enable_job(job_of(s)))], horizon=400)
    assert log(r, "job") == [
        (0.0, "job", "j", "active"),
        (10.0, "job", "j", "disabled"),
        (150.0, "job", "j", "active"),
        (150.0, "job", "j", "terminating", "AllTasksComplete"),
        (150.0, "job", "j", "completed"),
    ]


def test_disable_job_refuses_an_unknown_option():
    sim = Simulation(pool(targetDedicatedNodes=1), jobs(job(tasks=[task("a")])), start=T0,
                     horizon=10)
    with pytest.raises(ValueError, match="requeue, terminate or wait, not taskcompletion"):
        sim.disable_job(sim.jobs[0], "taskcompletion")


# -- reboot ---------------------------------------------------------------------------------------


def _reboot(option):
    """One node (30 s boot) running ``a`` from 30 s, ``b`` waiting; a reboot at 50 s, and a
    second one at 60 s that finds the node rebooting (or waiting to) and changes nothing."""
    p = pool(targetDedicatedNodes=1, simulation={"bootTime": 30})
    w = jobs(job(tasks=[task("a", 100), task("b", 100)]))
    sim, r = run(p, w, [(50, lambda s: s.reboot_node(s.nodes[1], option)),
                        (60, lambda s: s.reboot_node(s.nodes[1], option))], horizon=600)
    events = log(r, "node", "node.reboot", "task.start", "task.end", "task.requeue")
    return sim, events[5:]


def test_reboot_with_requeue_sends_the_task_back_and_boots_the_node_again():
    sim, events = _reboot(REQUEUE)
    assert events == [
        (50.0, "node.reboot", "tvm-000001", "requeue"),
        (50.0, "node", "tvm-000001", "rebooting"),
        (50.0, "task.requeue", "j/a"),
        (80.0, "node", "tvm-000001", "idle"),
        (80.0, "node", "tvm-000001", "running"),
        (80.0, "task.start", "j/a", "tvm-000001"),          # a keeps its place ahead of b
        (180.0, "task.end", "j/a", "success", 0),
        (180.0, "node", "tvm-000001", "idle"),
        (180.0, "node", "tvm-000001", "running"),
        (180.0, "task.start", "j/b", "tvm-000001"),
        (280.0, "task.end", "j/b", "success", 0),
        (280.0, "node", "tvm-000001", "idle"),
    ]
    assert tasks_of(sim)["a"].requeue_count == 1


def test_reboot_with_terminate_fails_the_task():
    sim, events = _reboot(TERMINATE)
    assert events[:4] == [
        (50.0, "node.reboot", "tvm-000001", "terminate"),
        (50.0, "node", "tvm-000001", "rebooting"),
        (50.0, "task.end", "j/a", "failure", None),
        (80.0, "node", "tvm-000001", "idle"),
    ]
    assert tasks_of(sim)["a"].failure == ("usererror", "TaskEnded")


@pytest.mark.parametrize("option", [TASKCOMPLETION, Option.RETAINEDDATA])
def test_reboot_after_task_completion_takes_no_new_task_meanwhile(option):
    sim, events = _reboot(option)
    assert events[:6] == [
        (50.0, "node.reboot", "tvm-000001", option.value),
        (130.0, "task.end", "j/a", "success", 0),
        (130.0, "node", "tvm-000001", "rebooting"),         # b did not start meanwhile
        (160.0, "node", "tvm-000001", "idle"),
        (160.0, "node", "tvm-000001", "running"),
        (160.0, "task.start", "j/b", "tvm-000001"),
    ]
    assert sim.nodes[1].disabled is False and sim.nodes[1].reboot is None


def test_a_node_that_is_starting_is_not_rebooted():
    p = pool(targetDedicatedNodes=1, simulation={"bootTime": 30})
    sim, r = run(p, jobs(), [(10, lambda s: s.reboot_node(s.nodes[1]))], horizon=100)
    assert log(r, "node.reboot") == []
    with pytest.raises(ValueError, match="not a node of this pool"):
        sim.reboot_node(Node(99, 0))


# -- random requests at random instants -----------------------------------------------------------

KINDS = ("resize", "stop", "remove", "disable", "enable", "priority", "add", "terminate",
         "disable_job", "enable_job", "reboot")


@st.composite
def requests(draw):
    return [(draw(st.floats(0, 2500).map(lambda t: round(t, 1))), draw(st.sampled_from(KINDS)),
             draw(st.integers(0, 2**32 - 1))) for _ in range(draw(st.integers(1, 12)))]


def _request(kind, seed, counter):
    r = random.Random(seed)

    def act(sim):
        nodes = [n for n in sim.nodes.values() if n.state is not LEAVINGPOOL]
        jobs_ = sim.jobs
        if kind == "resize" and not sim.autoscale:
            sim.resize(r.randint(0, 4), r.randint(0, 2), r.choice(list(Option)))
        elif kind == "stop":
            sim.stop_resize()
        elif kind == "remove" and nodes:
            sim.remove_nodes(r.sample(nodes, r.randint(1, len(nodes))), r.choice(list(Option)))
        elif kind == "disable" and nodes:
            sim.disable_scheduling(r.choice(nodes), r.choice([REQUEUE, TERMINATE, TASKCOMPLETION]))
        elif kind == "enable" and nodes:
            sim.enable_scheduling(r.choice([n for n in nodes if n.disabled] or nodes))
        elif kind == "priority":
            sim.set_job_priority(r.choice(jobs_), r.choice([-5, 0, 3, 20]))
        elif kind == "add":
            counter[0] += 1
            j = r.choice(jobs_)
            t = {"id": f"r{counter[0]}", "duration": r.choice([0, 30, 300]),
                 "requiredSlots": r.randint(1, sim.slots),
                 "exitCodes": r.choice([[0], [1, 0], [2]])}
            if r.random() < 0.3:
                t["dependsOn"] = {"taskIds": [r.choice(["0", "1", f"r{counter[0] - 1}"])]}
            sim.add_task(j, TaskSpec.model_validate(t))
        elif kind == "terminate":
            sim.terminate_job(r.choice(jobs_))
        elif kind == "disable_job":
            sim.disable_job(r.choice(jobs_), r.choice(["requeue", "terminate", "wait"]))
        elif kind == "enable_job":
            sim.enable_job(r.choice([j for j in jobs_ if j.state == "disabled"] or jobs_))
        elif kind == "reboot" and nodes:
            sim.reboot_node(r.choice(nodes), r.choice(list(Option)))

    return act


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), requests(), st.booleans())
def test_invariants_hold_with_random_requests_at_random_instants(case, reqs, general):
    _, seed, p, w = case
    sim = Simulation(p, w, horizon=3000, seed=seed)
    if general:
        sim.use_general_paths()     # as the live engine runs
    counter = [0]
    for at, kind, s in reqs:
        sim.kernel.at(at, SUBMIT, lambda f, _: f(sim), _request(kind, s, counter))

    sim.run(on_step=checking_steps(sim))
    t = sim.result().report["tasks"]
    assert t["submitted"] == t["succeeded"] + t["failed"] + t["active_at_end"] + t["running_at_end"]
