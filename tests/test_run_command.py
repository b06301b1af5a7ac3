"""`poolscale run`: jobs run for real on local nodes, simulate's report of what was measured,
and the prediction beside it (runtime/commands/run.py, runtime/livecli.py,
runtime/service/workloadrun.py).

Every run here is a fixed pool of one node with short real commands (`/bin/sh -c 'sleep 0.2'`),
so each test takes about a second of wall time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from poolscale.runtime.cli import main

ROOT = Path(__file__).resolve().parent.parent
POOL = {"id": "local", "vmSize": "STANDARD_D2_v3", "taskSlotsPerNode": 2,
        "targetDedicatedNodes": 1}


def write(path: Path, doc) -> str:
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return str(path)


def run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def pool(tmp_path):
    return write(tmp_path / "pool.json", POOL)


def jobs_file(tmp_path, *tasks, name="jobs.json"):
    return write(tmp_path / name, {"jobs": [{"id": "job1", "tasks": list(tasks)}]})


def sleeper(task_id, seconds=0.2, code=0, **extra):
    return {"id": task_id, "commandLine": f"/bin/sh -c 'sleep {seconds}; exit {code}'", **extra}


def test_tasks_that_succeed_exit_0_with_the_measured_report_and_the_prediction(
        capsys, tmp_path, pool):
    jobs = jobs_file(tmp_path, sleeper("a"), sleeper("b"), sleeper("c", submitTime=0.1))
    code, out, err = run(capsys, ["run", "--pool", pool, "--jobs", jobs, "--json"])
    assert code == 0, err
    doc = json.loads(out)
    assert doc["interrupted"] is False
    assert doc["inputs"]["pool"] == pool and doc["inputs"]["jobs"] == jobs
    measured, predicted = doc["measured"], doc["predicted"]
    assert measured["tasks"]["submitted"] == 3
    assert measured["tasks"]["succeeded"] == 3
    assert measured["tasks"]["failed"] == 0
    assert measured["tasks"]["running_at_end"] == 0
    assert measured["pool"] == "local"
    # two slots: a and b at once, c waits for one of them (submitted at 0.1 s, starts ~0.2 s)
    assert 0.3 <= measured["makespan_seconds"] < 3.0
    assert measured["wait_seconds"]["max"] >= 0.05
    assert predicted["tasks"]["succeeded"] == 3 and predicted["tasks"]["failed"] == 0
    assert set(doc["error"]) == {"node_hours", "low_priority_node_hours", "makespan_seconds",
                                 "wait_p95_seconds"}
    for key in ("node_hours", "makespan_seconds"):
        entry = doc["error"][key]
        assert entry["measured"] > 0 and entry["predicted"] > 0
        assert entry["error"] == pytest.approx(
            (entry["predicted"] - entry["measured"]) / entry["measured"])
    # the same tasks lasting what they lasted on the same fixed pool: the same makespan
    assert abs(doc["error"]["makespan_seconds"]["error"]) < 0.05
    assert doc["error"]["makespan_seconds"]["measured"] == measured["makespan_seconds"]
    assert doc["error"]["makespan_seconds"]["predicted"] == predicted["makespan_seconds"]


def test_a_failing_task_is_retried_and_the_run_exits_1(capsys, tmp_path, pool):
    jobs = jobs_file(tmp_path, sleeper("ok", 0.1),
                     sleeper("bad", 0.05, code=3, constraints={"maxTaskRetryCount": 2}))
    code, out, err = run(capsys, ["run", "--pool", pool, "--jobs", jobs, "--json"])
    assert code == 1, err
    doc = json.loads(out)
    t = doc["measured"]["tasks"]
    assert (t["submitted"], t["succeeded"], t["failed"], t["retries"]) == (2, 1, 1, 2)
    p = doc["predicted"]["tasks"]
    assert (p["succeeded"], p["failed"], p["retries"]) == (1, 1, 2)


def test_the_tables_show_the_report_and_the_prediction_block(capsys, tmp_path, pool):
    jobs = jobs_file(tmp_path, sleeper("a", 0.1), sleeper("b", 0.1, code=1))
    report = tmp_path / "run.json"
    code, out, err = run(capsys, ["run", "--pool", pool, "--jobs", jobs, "--no-progress",
                                  "--report-json", str(report)])
    assert code == 1, err
    lines = out.splitlines()
    assert lines[0] == "pool local (STANDARD_D2_v3, 2 slots per node) · fixed pool"
    assert lines[1] == f"jobs {jobs} (2 tasks) · seed 0"
    assert not any(line.startswith("note:") for line in lines)   # no "no duration" note
    assert "Run report (measured)" in out
    assert "Prediction: simulate with the measured task times" in out
    rows = {" ".join(line.replace("│", " ").replace("┃", " ").split()) for line in lines}
    assert "tasks submitted 2" in rows
    assert "succeeded 1" in rows and "failed 1" in rows
    assert "figure measured predicted error" in rows
    assert any(r.startswith("figures node-hours dedicated ") and r.endswith(" %") for r in rows)
    assert any(r.startswith("makespan ") and r.endswith(" %") for r in rows)
    assert any(r.startswith("wait p95 ") for r in rows)
    assert "tasks succeeded 1 1 +0" in rows and "failed 1 1 +0" in rows
    assert lines[-1] == f"wrote {report}"
    doc = json.loads(report.read_text())
    assert set(doc) == {"inputs", "interrupted", "measured", "predicted", "error"}
    assert doc["measured"]["tasks"]["failed"] == 1
    assert doc["predicted"]["tasks"]["failed"] == 1


def test_data_keeps_the_node_directories_and_the_default_is_removed(
        capsys, tmp_path, pool, monkeypatch):
    jobs = jobs_file(tmp_path, {"id": "hello", "commandLine": "/bin/echo hello"})
    data = tmp_path / "data"
    code, _, err = run(capsys, ["run", "--pool", pool, "--jobs", jobs, "--json",
                                "--data", str(data)])
    assert code == 0, err
    out = data / "nodes" / "local" / "tvm-000001" / "workitems" / "job1" / "job-1" / "hello"
    assert (out / "stdout.txt").read_text() == "hello\n"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(scratch))
    code, _, err = run(capsys, ["run", "--pool", pool, "--jobs", jobs, "--json"])
    assert code == 0, err
    assert list(scratch.iterdir()) == []


def test_simulator_only_fields_get_a_note(capsys, tmp_path, pool):
    jobs = jobs_file(tmp_path, {"id": "a", "commandLine": "/bin/true", "duration": 600,
                                "exitCodes": [1, 0]})
    code, out, err = run(capsys, ["run", "--pool", pool, "--jobs", jobs, "--no-progress"])
    assert code == 0, err
    assert ("note: duration, exitCodes of the tasks are for the simulator only: a real run "
            "measures what each process does") in out.splitlines()


def test_a_task_without_a_command_line_is_a_usage_error_with_its_line(capsys, tmp_path, pool):
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text("jobs:\n  - id: job1\n    tasks:\n      - id: a\n        commandLine: /bin/true\n"
                    "      - id: b\n        duration: 60\n", encoding="utf-8")
    code, out, err = run(capsys, ["run", "--pool", pool, "--jobs", str(jobs)])
    assert code == 2
    assert out == ""
    assert err == (f"poolscale: {jobs}:6: jobs[0].tasks[1]: commandLine is required to run a "
                   "task for real\n")


def test_an_id_that_breaks_the_batch_rule_is_a_usage_error_with_its_line(capsys, tmp_path, pool):
    """The simulator takes any id; a real run makes directories of them."""
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text("jobs:\n  - id: job1\n    tasks:\n      - id: a\n        commandLine: /bin/true\n"
                    "      - id: ../b\n        commandLine: /bin/true\n", encoding="utf-8")
    code, out, err = run(capsys, ["run", "--pool", pool, "--jobs", str(jobs)])
    assert (code, out) == (2, "")
    assert err == (f"poolscale: {jobs}:6: jobs[0].tasks[1].id: an id has 1 to 64 characters, each "
                   "an ASCII letter, a digit, a hyphen (-) or an underscore (_); this one contains "
                   "'.'\n")
    empty_job = write(tmp_path / "empty.json", {"jobs": [{"id": "", "tasks": [sleeper("a")]}]})
    code, _, err = run(capsys, ["run", "--pool", pool, "--jobs", empty_job])
    assert code == 2
    assert err.startswith(f"poolscale: {empty_job}:4: jobs[0].id: an id has 1 to 64 characters")
    assert err.endswith("; this one is empty\n")
    bad_pool = write(tmp_path / "bad-pool.json", {**POOL, "id": "my pool"})
    jobs_ok = jobs_file(tmp_path, sleeper("a"))
    code, _, err = run(capsys, ["run", "--pool", bad_pool, "--jobs", jobs_ok])
    assert code == 2
    assert err.startswith(f"poolscale: {bad_pool}:2: id: an id has 1 to 64 characters")
    assert err.endswith("; this one contains ' '\n")


def test_a_task_no_node_can_hold_is_a_usage_error_not_a_run_without_end(capsys, tmp_path, pool):
    jobs = jobs_file(tmp_path, sleeper("a"), sleeper("wide", requiredSlots=3),
                     sleeper("wider", requiredSlots=4))
    code, out, err = run(capsys, ["run", "--pool", pool, "--jobs", jobs])
    assert (code, out) == (2, "")
    assert err == (f"poolscale: {jobs}:10: jobs[0].tasks[1]: requiredSlots 3 is more than the "
                   "pool's taskSlotsPerNode (2): no node can ever run it, and the run would never "
                   "end (and 1 more task)\n")


def test_a_bad_pool_file_is_a_usage_error_with_its_line(capsys, tmp_path):
    bad = tmp_path / "pool.json"
    bad.write_text('{\n  "id": "local",\n  "vmSize": "STANDARD_D2_v3",\n'
                   '  "taskSlotsPerNode": "two"\n}\n', encoding="utf-8")
    jobs = jobs_file(tmp_path, sleeper("a"))
    code, out, err = run(capsys, ["run", "--pool", str(bad), "--jobs", jobs])
    assert code == 2
    assert out == ""
    assert err.startswith(f"poolscale: {bad}:4: taskSlotsPerNode: ")


def test_a_csv_workload_has_no_command_lines(capsys, tmp_path, pool):
    csv = tmp_path / "w.csv"
    csv.write_text("submit_time,duration\n0,60\n", encoding="utf-8")
    code, _, err = run(capsys, ["run", "--pool", pool, "--jobs", str(csv)])
    assert code == 2
    assert err == (f"poolscale: {csv}: a csv workload has no command lines to run: give a JSON "
                   "or YAML file of jobs whose tasks have a commandLine\n")


@pytest.mark.parametrize("scale", ["0", "-1", "nan", "inf", "1e-300", "0.0009", "1001"])
def test_scale_must_be_in_its_range(capsys, tmp_path, pool, scale):
    jobs = jobs_file(tmp_path, sleeper("a"))
    code, out, err = run(capsys, ["run", "--pool", pool, "--jobs", jobs, "--scale", scale])
    assert (code, out) == (2, "")
    assert err == ("poolscale: --scale: must be from 0.001 to 1000 wall seconds per engine "
                   f"second, got {float(scale):g}\n")


def test_data_that_cannot_be_a_directory_is_a_usage_error(capsys, tmp_path, pool):
    jobs = jobs_file(tmp_path, sleeper("a"))
    a_file = tmp_path / "file"
    a_file.write_text("x")
    code, out, err = run(capsys, ["run", "--pool", pool, "--jobs", jobs, "--data", str(a_file)])
    assert (code, out, err) == (2, "", f"poolscale: --data: {a_file} is not a directory\n")
    under = a_file / "data"
    code, out, err = run(capsys, ["run", "--pool", pool, "--jobs", jobs, "--data", str(under)])
    assert (code, out) == (2, "")
    assert err == f"poolscale: --data: cannot make the directory {under}: Not a directory\n"


def test_scale_measures_engine_seconds(capsys, tmp_path, pool):
    """At --scale 0.01 a 0.2 s process lasts about 20 engine seconds."""
    jobs = jobs_file(tmp_path, sleeper("a", 0.2))
    code, out, err = run(capsys, ["run", "--pool", pool, "--jobs", jobs, "--json",
                                  "--scale", "0.01"])
    assert code == 0, err
    doc = json.loads(out)
    assert doc["inputs"]["scale"] == 0.01
    assert 19.0 <= doc["measured"]["run_seconds"]["max"] < 200.0


def test_help_explains_the_command(capsys):
    assert main(["run", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for text in ("--pool P", "--jobs J", "--data DIR", "--report-json PATH", "--scale X",
                 "development setting", "0.001 to 1000", "commandLine", "node-hours, makespan and wait p95",
                 "Exit status: 0 every task succeeded; 1 a task failed or could never run, or "
                 "the formula does not compile; 2 usage error", "130 interrupted",
                 "docs/running-locally.md"):
        assert text in out, text


def test_ctrl_c_stops_the_run_kills_its_processes_and_prints_the_partial_report(tmp_path, pool):
    pid_file = tmp_path / "pid"
    jobs = jobs_file(tmp_path, {"id": "long",
                                "commandLine": f"/bin/sh -c 'echo $$ > {pid_file}; exec sleep 60'"},
                     sleeper("short", 0.05))
    proc = subprocess.Popen([sys.executable, "-m", "poolscale.runtime.cli", "run", "--pool", pool,
                             "--jobs", jobs, "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not (pid_file.exists() and pid_file.read_text().strip()):
            assert time.monotonic() < deadline, "the task never started"
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        task_pid = int(pid_file.read_text())
        time.sleep(0.3)                 # the short task ends meanwhile
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    doc = json.loads(out)
    assert doc["interrupted"] is True
    assert doc["predicted"] is None and doc["error"] is None
    t = doc["measured"]["tasks"]
    assert (t["submitted"], t["succeeded"], t["running_at_end"]) == (2, 1, 1)
    deadline = time.monotonic() + 5
    while True:
        try:
            gone = psutil.Process(task_pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            gone = True
        if gone:
            break
        assert time.monotonic() < deadline, "the task's process outlived the run"
        time.sleep(0.05)


def test_progress_lines_count_the_tasks_ended(capsys, tmp_path, pool):
    jobs = jobs_file(tmp_path, sleeper("a", 0.1), sleeper("b", 0.1))
    code, _, err = run(capsys, ["run", "--pool", pool, "--jobs", jobs, "--json", "--progress"])
    assert code == 0, err
    assert err.splitlines()[-1] == f"progress: running {jobs}: 100% of tasks ended"


def test_the_prediction_uses_the_local_accounts_delays_and_no_horizon(capsys, tmp_path):
    """The pool file's simulation section describes the cloud (10-minute allocations, a
    one-hour horizon); local nodes are ready at once and the run ends when its tasks do, so the
    prediction must say the same or its error is the cloud's, not the model's."""
    pool = write(tmp_path / "pool.json", {**POOL, "simulation": {
        "allocationTime": "PT10M", "bootTime": "PT5M", "horizon": "PT1H"}})
    jobs = jobs_file(tmp_path, sleeper("a", 0.2))
    code, out, err = run(capsys, ["run", "--pool", pool, "--jobs", jobs, "--json"])
    assert code == 0, err
    doc = json.loads(out)
    assert doc["predicted"]["simulated_seconds"] < 5.0
    assert abs(doc["error"]["makespan_seconds"]["error"]) < 0.05
    assert abs(doc["error"]["node_hours"]["error"]) < 0.05


def test_formula_turns_autoscale_on_for_the_run_and_the_prediction(capsys, tmp_path, pool):
    formula = tmp_path / "two.formula"
    formula.write_text("$TargetDedicatedNodes = 2;\n", encoding="utf-8")
    jobs = jobs_file(tmp_path, sleeper("a", 0.1), sleeper("b", 0.1), sleeper("c", 0.1))
    code, out, err = run(capsys, ["run", "--pool", pool, "--jobs", jobs, "--json",
                                  "--formula", str(formula)])
    assert code == 0, err
    doc = json.loads(out)
    assert doc["inputs"]["formula"] == str(formula)
    for report in (doc["measured"], doc["predicted"]):
        assert report["autoscale"]["enabled"] is True
        assert report["autoscale"]["evaluations"] == 1
        assert report["pool_at_end"]["target_dedicated"] == 2


def test_readme_first_command_as_a_process():
    """The README's main job, as a user runs it (the console script's module): the shipped
    example runs for real and prints the measured report and the prediction."""
    first = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()[2]
    install, command = (part.strip() for part in first.split("&&"))
    assert install == "pip install -e ." and command.startswith("poolscale run ")
    env = {**os.environ, "COLUMNS": "100"}
    proc = subprocess.run([sys.executable, "-m", "poolscale.runtime.cli", *command.split()[1:]],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "Run report (measured)" in proc.stdout
    assert "Prediction: simulate with the measured task times" in proc.stdout
    succeeded = [line for line in proc.stdout.splitlines() if "succeeded" in line]
    assert succeeded[0].split()[-1] == "12"


def test_jobs_that_make_their_own_pool_need_no_pool_file_and_the_prediction_uses_theirs(
        capsys, tmp_path):
    jobs = write(tmp_path / "jobs.json", {"jobs": [{
        "id": "job1", "onAllTasksComplete": "terminatejob",
        "poolInfo": {"autoPoolSpecification": {
            "autoPoolIdPrefix": "run", "poolLifetimeOption": "job",
            "pool": {"vmSize": "STANDARD_D2_v3", "taskSlotsPerNode": 2,
                     "targetDedicatedNodes": 1}}},
        "tasks": [sleeper("a"), sleeper("b")]}]})
    code, out, err = run(capsys, ["run", "--jobs", jobs, "--json"])
    assert code == 0, err
    doc = json.loads(out)
    measured, predicted = doc["measured"], doc["predicted"]
    assert measured["tasks"]["succeeded"] == predicted["tasks"]["succeeded"] == 2
    assert [p["id"][:4] for p in measured["auto_pool"]["pools"]] == ["run_"]
    assert measured["auto_pool"]["pools"][0]["deleted"] is not None    # gone with its job
    assert predicted["auto_pool"]["pools"][0]["id"] == measured["auto_pool"]["pools"][0]["id"]
    code, out, err = run(capsys, ["run", "--jobs", jobs])
    assert code == 0, err
    assert out.startswith("pool made by the workload's jobs (STANDARD_D2_v3, 2 slots per node)")
