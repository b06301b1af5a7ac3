"""Resource files and output files (runtime/service/local/storage.py, their models in
scheduler/models.py, their place in the live engine in runtime/service/liveworld.py).

The models are checked without storage. Everything else runs against a real Azure Blob
Storage, the Azurite emulator (tests/azurite.py; skipped with a reason when it is not
installed): blobs are set up and read back with ``azure-storage-blob``, tasks run for real on
a local account, and each test asserts what a Batch user reads: the task's files, its
execution info (failure codes, retry count), the blobs written, and that no SAS signature
appears in a log, an error or a file.
"""

from __future__ import annotations

import http.server
import logging
import threading
import time

import pytest
from pydantic import ValidationError

from poolscale.scheduler.models import (
    JobSpec, OutputFile, PoolSpec, ResourceFile, TaskSpec, load_workload,
)

WAIT = 15.0


# -- the models (no storage needed) ----------------------------------------------------------


def _refusal(cls, data) -> str:
    with pytest.raises(ValidationError) as info:
        cls.model_validate(data)
    return info.value.errors()[0]["msg"]


def test_resource_and_output_files_are_fields_of_every_task_kind():
    rf = {"httpUrl": "https://example.org/a.txt", "filePath": "in/a.txt", "fileMode": "0755"}
    of = {"filePattern": "../std*.txt",
          "destination": {"container": {"containerUrl": "https://acct.blob/c?sig=x",
                                        "path": "logs",
                                        "uploadHeaders": [{"name": "x-ms-meta-k", "value": "v"}]}},
          "uploadOptions": {"uploadCondition": "TaskCompletion"}}
    task = TaskSpec.model_validate({"id": "t", "resourceFiles": [rf], "outputFiles": [of],
                                    "multiInstanceSettings": {
                                        "numberOfInstances": 2,
                                        "commonResourceFiles": [{"storageContainerUrl":
                                                                 "https://acct.blob/c"}]}})
    assert task.resource_files == [ResourceFile(http_url="https://example.org/a.txt",
                                                file_path="in/a.txt", file_mode="0755")]
    assert task.output_files[0].upload_options.upload_condition == "taskcompletion"
    assert task.output_files[0].destination.container.upload_headers[0].name == "x-ms-meta-k"
    assert task.multi_instance_settings.common_resource_files[0].storage_container_url == \
        "https://acct.blob/c"
    job = JobSpec.model_validate({
        "id": "j", "jobManagerTask": {"id": "jm", "resourceFiles": [rf], "outputFiles": [of]},
        "jobPreparationTask": {"resourceFiles": [rf]}, "jobReleaseTask": {"resourceFiles": [rf]}})
    assert [len(t.resource_files) for t in (job.job_manager_task, job.job_preparation_task,
                                            job.job_release_task)] == [1, 1, 1]
    assert len(job.job_manager_task.output_files) == 1
    pool = PoolSpec.model_validate({"id": "p", "vmSize": "standard_d2_v3",
                                    "startTask": {"commandLine": "x", "resourceFiles": [rf]}})
    assert pool.start_task.resource_files[0].file_path == "in/a.txt"


def test_a_workload_task_with_files_loads_through_the_model():
    """The fast path of plain tasks (scheduler/plaintasks.py) leaves a task with files to the
    model, and builds plain tasks with the same (empty) file fields the model gives."""
    workload = load_workload({"tasks": [
        {"id": "plain", "duration": 5},
        {"id": "files", "duration": 5, "resourceFiles": [{"autoStorageContainerName": "in"}]}]})
    plain, files = workload.jobs[0].tasks
    assert (plain.resource_files, plain.output_files) == ([], [])
    assert plain == TaskSpec.model_validate({"id": "plain", "duration": 5})
    assert files.resource_files == [ResourceFile(auto_storage_container_name="in")]


@pytest.mark.parametrize("data, message", [
    ({"filePath": "a"}, "httpUrl: exactly one of autoStorageContainerName, storageContainerUrl "
                        "and httpUrl must be given, got 0"),
    ({"httpUrl": "https://h/a", "storageContainerUrl": "https://h/c", "filePath": "a"},
     "httpUrl: exactly one of autoStorageContainerName, storageContainerUrl and httpUrl must "
     "be given, got 2"),
    ({"httpUrl": "https://h/a"}, "filePath: is required with httpUrl"),
    ({"httpUrl": "https://h/a", "filePath": "a", "blobPrefix": "x"},
     "blobPrefix: applies to a container only, not to httpUrl"),
    ({"httpUrl": "https://h/a", "filePath": "../a"},
     "filePath: '../a' must be a relative path that stays inside the task's working directory"),
    ({"storageContainerUrl": "https://h/c", "filePath": "/etc"},
     "filePath: '/etc' must be a relative path that stays inside the task's working directory"),
    ({"storageContainerUrl": "https://h/c", "fileMode": "rwx"},
     "fileMode: 'rwx' is not an octal file mode such as 0755"),
    ({"httpUrl": "ftp://h/a", "filePath": "a"}, "httpUrl: must be an http:// or https:// URL"),
])
def test_a_resource_file_is_refused_as_the_service_refuses_it(data, message):
    assert _refusal(ResourceFile, data) == f"Value error, {message}"


def test_an_output_file_needs_its_three_parts_and_a_known_condition():
    ok = {"filePattern": "*.txt", "destination": {"container": {"containerUrl": "https://h/c"}},
          "uploadOptions": {"uploadCondition": "taskSuccess"}}
    OutputFile.model_validate(ok)
    for part in ok:
        assert _refusal(OutputFile, {k: v for k, v in ok.items() if k != part}) == "Field required"
    assert _refusal(OutputFile, {**ok, "uploadOptions": {"uploadCondition": "always"}}) == \
        "Input should be 'tasksuccess', 'taskfailure' or 'taskcompletion'"
    assert _refusal(OutputFile, {**ok, "destination": {"container": {"containerUrl": "c"}}}) == \
        "Value error, containerUrl: must be an http:// or https:// URL"


# -- live: an account on this machine, Azurite as the storage --------------------------------

from poolscale.runtime.service.account import Account  # noqa: E402
from poolscale.runtime.service.errors import BatchError  # noqa: E402
from poolscale.runtime.service.local.storage import (  # noqa: E402
    NO_AUTO_STORAGE, NO_MANAGED_IDENTITY, redact,
)
from poolscale.runtime.service.settings import AccountSettings  # noqa: E402

_names = iter(range(1_000_000))


def fresh(prefix: str) -> str:
    """A container name no other test of the session uses (Azurite lives for the session)."""
    return f"{prefix}{next(_names)}"


@pytest.fixture
def account(tmp_path):
    made = []

    def make(**settings) -> Account:
        acct = Account(settings=AccountSettings(data_dir=tmp_path / "data", durability="off",
                                                **settings))
        made.append(acct)
        acct.create_pool({"id": "p", "vmSize": "STANDARD_D2_v3", "taskSlotsPerNode": 4,
                          "targetDedicatedNodes": 1})
        acct.add_job({"id": "j", "poolInfo": {"poolId": "p"}})
        return acct

    yield make
    for acct in made:
        acct.close()


def run_tasks(acct: Account, *tasks: dict) -> dict[str, dict]:
    """Add the tasks to job ``j``, wait for all, return their views by id."""
    results = acct.add_tasks("j", list(tasks))
    assert [r["status"] for r in results] == ["success"] * len(tasks), results
    acct.wait_for_job("j", timeout=WAIT)
    return {t["id"]: t for t in acct.list_tasks("j")}


def outcome(view: dict) -> tuple:
    info = view["executionInfo"]
    return (view["state"], info.get("result"), info.get("exitCode"), info.get("failureInfo"),
            info["retryCount"])


def sh(script: str) -> str:
    return f"/bin/sh -c '{script}'"


def test_an_http_url_is_downloaded_to_its_file_path_before_the_command_runs(azurite, account):
    inputs = azurite.container(fresh("http"))
    inputs.upload_blob("data/x.txt", b"from http\n")
    acct = account()
    tasks = run_tasks(acct, {
        "id": "t", "commandLine": sh("cat in/x.txt; stat -c %a in/x.txt"),
        "resourceFiles": [{"httpUrl": azurite.blob_url(inputs.container_name, "data/x.txt"),
                           "filePath": "in/x.txt", "fileMode": "0640"}]})
    assert outcome(tasks["t"]) == ("completed", "success", 0, None, 0)
    assert acct.read_task_file("j", "t", "stdout.txt") == b"from http\n640\n"


def test_a_container_is_downloaded_blob_by_blob_under_its_prefix(azurite, account):
    """``storageContainerUrl`` with a SAS: each blob under ``blobPrefix`` at its own name under
    ``filePath``; blobs outside the prefix are not downloaded; no ``fileMode`` gives 0770."""
    name = fresh("cont")
    inputs = azurite.container(name)
    for blob, data in (("set/a.txt", b"A"), ("set/deep/b.txt", b"B"), ("other/c.txt", b"C")):
        inputs.upload_blob(blob, data)
    acct = account()
    tasks = run_tasks(acct, {
        "id": "t", "commandLine": sh("find . -type f | sort; cat d/set/a.txt d/set/deep/b.txt;"
                                     " stat -c %a d/set/a.txt"),
        "resourceFiles": [{"storageContainerUrl": azurite.sas_url(name), "blobPrefix": "set/",
                           "filePath": "d"}]})
    assert outcome(tasks["t"]) == ("completed", "success", 0, None, 0)
    assert acct.read_task_file("j", "t", "stdout.txt") == \
        b"./d/set/a.txt\n./d/set/deep/b.txt\nAB770\n"


def test_an_auto_storage_container_comes_from_the_accounts_connection_string(azurite, account):
    name = fresh("auto")
    azurite.container(name).upload_blob("tool.sh", b"echo tool ran\n")
    acct = account(auto_storage=azurite.connection_string)
    tasks = run_tasks(acct, {"id": "t", "commandLine": "/bin/sh tool.sh",
                             "resourceFiles": [{"autoStorageContainerName": name}]})
    assert outcome(tasks["t"]) == ("completed", "success", 0, None, 0)
    assert acct.read_task_file("j", "t", "stdout.txt") == b"tool ran\n"
    assert "AccountKey" not in repr(acct.settings)        # the key stays out of any repr


def test_what_this_account_cannot_give_is_refused_when_the_task_is_added(account):
    acct = account()
    results = acct.add_tasks("j", [
        {"id": "auto", "commandLine": "true",
         "resourceFiles": [{"autoStorageContainerName": "inputs"}]},
        {"id": "identity", "commandLine": "true",
         "resourceFiles": [{"httpUrl": "https://h/a", "filePath": "a",
                            "identityReference": {"resourceId": "/sub/id"}}]},
        {"id": "out", "commandLine": "true", "outputFiles": [
            {"filePattern": "*", "uploadOptions": {"uploadCondition": "taskSuccess"},
             "destination": {"container": {"containerUrl": "https://h/c",
                                           "identityReference": {"resourceId": "/sub/id"}}}}]},
    ])
    errors = {r["taskId"]: r["error"] for r in results}
    assert {k: (e.code, e.status, dict(e.values)["PropertyName"], dict(e.values)["Reason"])
            for k, e in errors.items()} == {
        "auto": ("InvalidPropertyValue", 400, "resourceFiles.0.autoStorageContainerName",
                 NO_AUTO_STORAGE),
        "identity": ("InvalidPropertyValue", 400, "resourceFiles.0.identityReference",
                     NO_MANAGED_IDENTITY),
        "out": ("InvalidPropertyValue", 400,
                "outputFiles.0.destination.container.identityReference", NO_MANAGED_IDENTITY)}
    assert NO_MANAGED_IDENTITY == "managed identities are not available locally"
    with pytest.raises(BatchError) as info:
        acct.add_job({"id": "j2", "poolInfo": {"poolId": "p"}, "jobPreparationTask": {
            "commandLine": "true", "resourceFiles": [{"autoStorageContainerName": "x"}]}})
    assert dict(info.value.values)["PropertyName"] == \
        "jobPreparationTask.resourceFiles.0.autoStorageContainerName"
    with pytest.raises(BatchError) as info:
        acct.create_pool({"id": "p2", "vmSize": "STANDARD_D2_v3", "startTask": {
            "commandLine": "true", "resourceFiles": [{"autoStorageContainerName": "x"}]}})
    assert dict(info.value.values)["PropertyName"] == \
        "startTask.resourceFiles.0.autoStorageContainerName"
    assert [p["id"] for p in acct.list_pools()] == ["p"]


def test_a_refused_resource_file_never_echoes_its_sas(account):
    acct = account()
    with pytest.raises(BatchError) as info:
        acct.add_task("j", {"id": "t", "commandLine": "true", "resourceFiles": [
            {"httpUrl": "https://h/a?sv=1&sig=SECRETSIG", "blobPrefix": "x", "filePath": "a"}]})
    error = info.value
    assert error.code == "InvalidPropertyValue"
    assert "SECRETSIG" not in str(error) and "SECRETSIG" not in repr(error.values)
    assert "sig=REDACTED" in dict(error.values)["PropertyValue"]


def test_a_download_that_fails_fails_the_task_without_a_retry_and_hides_the_sas(
        azurite, account, caplog):
    name = fresh("bad")
    azurite.container(name).upload_blob("x.txt", b"x")
    good = azurite.blob_url(name, "x.txt")
    forged = good.replace("sig=", "sig=AAAA")
    signature = forged.partition("sig=")[2].partition("&")[0]
    acct = account()
    caplog.set_level(logging.INFO)
    retried = {"constraints": {"maxTaskRetryCount": 3}}
    tasks = run_tasks(
        acct,
        {"id": "denied", "commandLine": sh("echo ran"), **retried,
         "resourceFiles": [{"httpUrl": forged, "filePath": "x.txt"}]},
        {"id": "missing", "commandLine": sh("echo ran"), **retried,
         "resourceFiles": [{"httpUrl": azurite.blob_url(name, "nope.txt"), "filePath": "x"}]},
        {"id": "listing", "commandLine": sh("echo ran"), **retried,
         "resourceFiles": [{"storageContainerUrl": forged.rpartition("/x.txt")[0]
                            + "?" + forged.partition("?")[2]}]})
    assert outcome(tasks["denied"]) == (
        "completed", "failure", None, {"category": "usererror", "code": "BlobAccessDenied"}, 0)
    assert outcome(tasks["missing"]) == (
        "completed", "failure", None, {"category": "usererror", "code": "BlobNotFound"}, 0)
    assert outcome(tasks["listing"]) == (
        "completed", "failure", None, {"category": "usererror", "code": "BlobAccessDenied"}, 0)
    for task in ("denied", "missing", "listing"):       # the command line never ran
        with pytest.raises(BatchError):
            acct.read_task_file("j", task, "stdout.txt")
    failures = [r.getMessage() for r in caplog.records if "BlobAccessDenied" in r.getMessage()]
    assert len(failures) == 2 and all("sig=REDACTED" in m for m in failures)
    assert signature not in caplog.text


def output(pattern: str, container_url: str, condition: str, path: str | None = None) -> dict:
    container = {"containerUrl": container_url, **({"path": path} if path else {})}
    return {"filePattern": pattern, "destination": {"container": container},
            "uploadOptions": {"uploadCondition": condition}}


def test_output_files_are_uploaded_on_their_condition(azurite, account):
    name = fresh("out")
    azurite.container(name)
    url = azurite.sas_url(name, write=True)
    outputs = [output("../std*.txt", url, "taskCompletion", "{id}/logs"),
               output("res/**/*.csv", url, "taskSuccess", "{id}/csv"),
               output("res/a.csv", url, "taskFailure", "{id}/failed.csv")]
    make = "mkdir -p res/sub; echo a > res/a.csv; echo b > res/sub/b.csv; echo note > res/n.txt"
    tasks = [{"id": task_id, "commandLine": sh(f"{make}; echo out; exit {code}"),
              "outputFiles": [{**o, "destination": {"container": {
                  **o["destination"]["container"],
                  "path": o["destination"]["container"]["path"].format(id=task_id)}}}
                  for o in outputs]}
             for task_id, code in (("ok", 0), ("bad", 3))]
    acct = account()
    views = run_tasks(acct, *tasks)
    assert outcome(views["ok"]) == ("completed", "success", 0, None, 0)
    assert outcome(views["bad"])[:3] == ("completed", "failure", 3)
    assert azurite.blobs(name) == {
        "ok/logs/stdout.txt": b"out\n", "ok/logs/stderr.txt": b"",
        "ok/csv/a.csv": b"a\n", "ok/csv/sub/b.csv": b"b\n",
        "bad/logs/stdout.txt": b"out\n", "bad/logs/stderr.txt": b"",
        "bad/failed.csv": b"a\n"}
    log = acct.read_task_file("j", "ok", "fileuploadout.txt").decode()
    assert log.count("uploaded to") == 4 and "sig=REDACTED" in log
    assert "res/a.csv: not uploaded, the exit does not meet taskfailure" in log
    assert acct.read_task_file("j", "ok", "fileuploaderr.txt") == b""


def test_an_upload_that_fails_fails_the_task_with_its_exit_code_kept(azurite, account):
    name = fresh("ro")
    azurite.container(name)
    read_only = azurite.sas_url(name, write=False)
    signature = read_only.partition("sig=")[2].partition("&")[0]
    acct = account()
    views = run_tasks(acct, {"id": "t", "commandLine": sh("echo r > r.txt"),
                             "constraints": {"maxTaskRetryCount": 2},
                             "outputFiles": [output("r.txt", read_only, "taskSuccess")]})
    assert outcome(views["t"]) == (
        "completed", "failure", 0, {"category": "usererror", "code": "FileUploadMiscError"}, 0)
    assert azurite.blobs(name) == {}
    errors = acct.read_task_file("j", "t", "fileuploaderr.txt").decode()
    assert "r.txt: upload to" in errors and "failed: HTTP 403" in errors
    assert "sig=REDACTED" in errors and signature not in errors


def test_start_preparation_and_release_tasks_download_theirs(azurite, tmp_path):
    name = fresh("node")
    azurite.container(name).upload_blob("setup.txt", b"ready\n")
    file = [{"httpUrl": azurite.blob_url(name, "setup.txt"), "filePath": "setup.txt"}]
    acct = Account(settings=AccountSettings(data_dir=tmp_path / "data", durability="off"))
    try:
        acct.create_pool({"id": "p", "vmSize": "STANDARD_D2_v3", "targetDedicatedNodes": 1,
                          "startTask": {"commandLine": sh("cat setup.txt > seen.txt"),
                                        "resourceFiles": file}})
        acct.add_job({"id": "j", "poolInfo": {"poolId": "p"},
                      "jobPreparationTask": {"commandLine": sh("cat setup.txt"),
                                             "resourceFiles": file},
                      "jobReleaseTask": {"commandLine": sh("cat setup.txt > seen.txt"),
                                         "resourceFiles": file}})
        acct.add_task("j", {"id": "t",
                            "commandLine": sh("cat $AZ_BATCH_JOB_PREP_WORKING_DIR/setup.txt")})
        acct.wait_for_job("j", timeout=WAIT)
        node = acct.list_nodes("p")[0]["id"]
        assert acct.read_node_file("p", node, "startup/wd/seen.txt") == b"ready\n"
        assert acct.read_task_file("j", "t", "stdout.txt") == b"ready\n"
        assert acct.get_task("j", "t")["executionInfo"]["result"] == "success"
        acct.terminate_job("j")             # the release task runs on the node
        released = "workitems/j/job-1/jobrelease/wd/seen.txt"
        deadline = time.monotonic() + WAIT
        while True:
            try:
                if acct.read_node_file("p", node, released) == b"ready\n":
                    break
            except BatchError:
                pass
            assert time.monotonic() < deadline, "the release task did not run"
            time.sleep(0.05)
    finally:
        acct.close()


def test_a_start_task_whose_download_fails_leaves_the_node_starttaskfailed(azurite, tmp_path):
    acct = Account(settings=AccountSettings(data_dir=tmp_path / "data", durability="off"))
    try:
        acct.create_pool({"id": "p", "vmSize": "STANDARD_D2_v3", "targetDedicatedNodes": 1,
                          "startTask": {"commandLine": "true", "resourceFiles": [
                              {"httpUrl": azurite.blob_url(fresh("none"), "x"),
                               "filePath": "x"}]}})
        deadline = time.monotonic() + WAIT
        while [n["state"] for n in acct.list_nodes("p")] != ["starttaskfailed"]:
            assert time.monotonic() < deadline, acct.list_nodes("p")
            time.sleep(0.05)
    finally:
        acct.close()


def test_common_resource_files_reach_every_instance_of_a_multi_instance_task(azurite, tmp_path):
    name = fresh("mpi")
    azurite.container(name).upload_blob("hosts.cfg", b"cfg\n")
    acct = Account(settings=AccountSettings(data_dir=tmp_path / "data", durability="off"))
    try:
        acct.create_pool({"id": "p", "vmSize": "STANDARD_D2_v3", "targetDedicatedNodes": 2,
                          "enableInterNodeCommunication": True})
        acct.add_job({"id": "j", "poolInfo": {"poolId": "p"}})
        acct.add_task("j", {
            "id": "m", "commandLine": sh("cat $AZ_BATCH_TASK_SHARED_DIR/hosts.cfg"),
            "multiInstanceSettings": {
                "numberOfInstances": 2,
                "coordinationCommandLine": sh("test -f $AZ_BATCH_TASK_SHARED_DIR/hosts.cfg"),
                "commonResourceFiles": [{"storageContainerUrl": azurite.sas_url(name)}]}})
        acct.wait_for_job("j", timeout=WAIT)
        view = acct.get_task("j", "m")
        assert outcome(view) == ("completed", "success", 0, None, 0)
        assert acct.read_task_file("j", "m", "stdout.txt") == b"cfg\n"
    finally:
        acct.close()


class _HeldServer:
    """A local HTTP server whose answers wait until :attr:`release` is set: a slow download."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.asked = threading.Event()
        held = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                held.asked.set()
                held.release.wait(WAIT)
                body = b"slow\n"
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass                # the client gave up (a timeout, a cancelled download)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/slow.txt"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def test_a_slow_download_holds_its_slot_but_never_the_engine(account):
    """While a task's resource file downloads, the task is running and holds its slots, and
    the engine goes on: another task starts, runs and completes meanwhile."""
    server = _HeldServer()
    try:
        acct = account()
        acct.add_task("j", {"id": "slow", "commandLine": "cat slow.txt", "requiredSlots": 3,
                            "resourceFiles": [{"httpUrl": server.url, "filePath": "slow.txt"}]})
        assert server.asked.wait(WAIT)
        assert acct.get_task("j", "slow")["state"] == "running"
        assert acct.list_nodes("p")[0]["runningTaskSlotsCount"] == 3
        acct.add_task("j", {"id": "quick", "commandLine": "true"})
        deadline = time.monotonic() + WAIT
        while acct.get_task("j", "quick")["state"] != "completed":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert acct.get_task("j", "slow")["state"] == "running"
        server.release.set()
        acct.wait_for_job("j", timeout=WAIT)
        assert outcome(acct.get_task("j", "slow")) == ("completed", "success", 0, None, 0)
        assert acct.read_task_file("j", "slow", "stdout.txt") == b"slow\n"
    finally:
        server.close()


def test_a_download_cut_by_the_wall_clock_ends_the_task_as_any_attempt(account):
    server = _HeldServer()
    try:
        acct = account()
        acct.add_task("j", {"id": "t", "commandLine": "cat slow.txt",
                            "constraints": {"maxWallClockTime": "PT0.5S"},
                            "resourceFiles": [{"httpUrl": server.url, "filePath": "slow.txt"}]})
        acct.wait_for_job("j", timeout=WAIT)
        assert outcome(acct.get_task("j", "t")) == (
            "completed", "failure", -1073741510, {"category": "servererror", "code": "TaskEnded"},
            0)
        server.release.set()
        time.sleep(0.2)                # the cancelled download ends; nothing may start now
        with pytest.raises(BatchError):
            acct.read_task_file("j", "t", "stdout.txt")
    finally:
        server.close()


def test_redact_hides_every_signature():
    assert redact("GET https://a/c?sv=1&sig=abc%2Bdef&se=2 and sig%3Dxyz") == \
        "GET https://a/c?sv=1&sig=REDACTED&se=2 and sig%3DREDACTED"


def test_the_auto_storage_setting_comes_from_the_option_else_the_environment():
    from poolscale.runtime.service.local.storage import AUTOSTORAGE_ENV, auto_storage_setting

    env = {AUTOSTORAGE_ENV: "UseDevelopmentStorage=true"}
    assert auto_storage_setting("AccountName=a;AccountKey=k", env) == "AccountName=a;AccountKey=k"
    assert auto_storage_setting(None, env) == "UseDevelopmentStorage=true"
    assert auto_storage_setting(None, {}) is None
    assert auto_storage_setting("", env) is None


def test_a_bad_connection_string_is_refused_without_showing_it():
    from poolscale.runtime.service.settings import SettingsError

    with pytest.raises(SettingsError) as info:
        AccountSettings(auto_storage="AccountName=a;AccountKey")
    assert str(info.value) == "auto_storage: 'AccountKey' is not a key=value setting"
    with pytest.raises(SettingsError) as info:
        AccountSettings(auto_storage="BlobEndpoint=http://h;AccountKey=SECRET")
    assert str(info.value) == ("auto_storage: a storage connection string needs AccountName "
                               "and AccountKey")
    assert "SECRET" not in repr(info.value.value)


def test_a_task_with_files_survives_a_restart_and_downloads_then(azurite, tmp_path):
    """The task's files are part of its stored specification: a task added while its job
    waits for a pool, kept across a restart, downloads its file once the pool exists."""
    name = fresh("keep")
    azurite.container(name).upload_blob("in.txt", b"kept\n")
    settings = AccountSettings(data_dir=tmp_path / "data")
    with Account(settings=settings) as acct:
        acct.add_job({"id": "j", "poolInfo": {"poolId": "p"}})
        acct.add_task("j", {"id": "t", "commandLine": "cat in.txt", "resourceFiles": [
            {"storageContainerUrl": azurite.sas_url(name)}]})
    with Account(settings=settings) as acct:
        acct.create_pool({"id": "p", "vmSize": "STANDARD_D2_v3", "targetDedicatedNodes": 1})
        acct.wait_for_job("j", timeout=WAIT)
        assert outcome(acct.get_task("j", "t")) == ("completed", "success", 0, None, 0)
        assert acct.read_task_file("j", "t", "stdout.txt") == b"kept\n"


def test_a_failed_upload_applies_the_exit_conditions_and_blocks_dependents(azurite, tmp_path):
    """An upload failure with exit code 0 is a failure for the exit conditions: a dependent task
    stays blocked, ``fileUploadError`` gives the job action (here: terminate the job), and an
    ``exitCodes`` entry for the code wins over it."""
    name = fresh("exit")
    azurite.container(name)
    read_only = azurite.sas_url(name, write=False)
    acct = Account(settings=AccountSettings(data_dir=tmp_path / "data", durability="off"))
    try:
        acct.create_pool({"id": "p", "vmSize": "STANDARD_D2_v3", "taskSlotsPerNode": 4,
                          "targetDedicatedNodes": 1})
        acct.add_job({"id": "j", "poolInfo": {"poolId": "p"}, "usesTaskDependencies": True,
                      "onTaskFailure": "performExitOptionsJobAction"})
        upload = {"commandLine": sh("echo r > r.txt"),
                  "outputFiles": [output("r.txt", read_only, "taskSuccess")]}
        acct.add_tasks("j", [
            {"id": "kept", **upload, "exitConditions": {
                "exitCodes": [{"code": 0, "exitOptions": {"jobAction": "none"}}],
                "fileUploadError": {"jobAction": "terminate"}}},
            {"id": "child", "commandLine": "true", "dependsOn": {"taskIds": ["kept"]}}])
        deadline = time.monotonic() + WAIT
        while acct.get_task("j", "kept")["state"] != "completed":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.2)
        assert outcome(acct.get_task("j", "kept"))[1:4] == (
            "failure", 0, {"category": "usererror", "code": "FileUploadMiscError"})
        assert acct.get_task("j", "child")["state"] == "active"      # blocked
        assert acct.get_job("j")["state"] == "active"                # exitCodes 0: none
        acct.add_task("j", {"id": "ends", **upload,
                            "exitConditions": {"fileUploadError": {"jobAction": "terminate"}}})
        deadline = time.monotonic() + WAIT
        while acct.get_job("j")["state"] != "completed":
            assert time.monotonic() < deadline, acct.get_job("j")
            time.sleep(0.02)
        assert acct.get_job("j")["executionInfo"]["terminateReason"] == "TaskFailed"
    finally:
        acct.close()


def test_a_download_never_writes_through_a_link_out_of_the_working_directory(tmp_path):
    """A task (or an earlier attempt) may leave a symbolic link in its working directory; a
    resource file is never placed through it: the download fails before any request."""
    from poolscale.runtime.service.local.storage import TransferFailed, download_resource_files

    wd, elsewhere = tmp_path / "wd", tmp_path / "elsewhere"
    wd.mkdir()
    elsewhere.mkdir()
    (wd / "out").symlink_to(elsewhere)
    with pytest.raises(TransferFailed) as info:
        download_resource_files([ResourceFile(http_url="http://127.0.0.1:9/x",
                                              file_path="out/sub/x")], wd)
    assert (info.value.code, info.value.message) == (
        "ResourceDirectoryCreateFailed", "'out/sub/x' leads outside the working directory")
    assert list(elsewhere.iterdir()) == []


def test_a_storage_that_does_not_answer_is_a_timeout(monkeypatch, tmp_path):
    from poolscale.runtime.service.local import storage

    monkeypatch.setattr(storage, "REQUEST_TIMEOUT", 0.3)
    server = _HeldServer()
    try:
        with pytest.raises(storage.TransferFailed) as info:
            storage.download_resource_files(
                [ResourceFile(http_url=server.url + "?sig=HELD", file_path="x")], tmp_path)
        assert info.value.code == "BlobDownloadTimedOut"
        assert info.value.message == f"GET {server.url}?sig=REDACTED: timed out"
    finally:
        server.close()


def test_an_absolute_pattern_and_a_single_file_without_a_path(azurite, tmp_path):
    """A pattern may be absolute; a file named without wildcards and without ``path`` is
    uploaded at its own name, at the container's root."""
    from poolscale.runtime.service.local.storage import upload_output_files

    name = fresh("abs")
    azurite.container(name)
    url = azurite.sas_url(name, write=True)
    task_dir = tmp_path / "task"
    (task_dir / "wd" / "r").mkdir(parents=True)
    (task_dir / "wd" / "r" / "one.txt").write_text("1")
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "s.log").write_text("s")
    files = [OutputFile.model_validate(output(p, url, "taskCompletion", path)) for p, path in (
        ("r/one.txt", None), (f"{tmp_path}/shared/*.log", "abs"))]
    assert upload_output_files(files, task_dir, 7) == 2
    assert azurite.blobs(name) == {"one.txt": b"1", "abs/s.log": b"s"}


def test_a_task_stopped_while_downloading_runs_again_after_a_restart(tmp_path):
    """Stopping the account mid-download loses nothing: the task was running, so the next
    start puts it back in the queue, and it downloads and runs then."""
    server = _HeldServer()
    settings = AccountSettings(data_dir=tmp_path / "data")
    try:
        with Account(settings=settings) as acct:
            acct.create_pool({"id": "p", "vmSize": "STANDARD_D2_v3", "targetDedicatedNodes": 1})
            acct.add_job({"id": "j", "poolInfo": {"poolId": "p"}})
            acct.add_task("j", {"id": "t", "commandLine": "cat slow.txt", "resourceFiles": [
                {"httpUrl": server.url, "filePath": "slow.txt"}]})
            assert server.asked.wait(WAIT)
            assert acct.get_task("j", "t")["state"] == "running"
        server.release.set()
        with Account(settings=settings) as acct:
            acct.wait_for_job("j", timeout=WAIT)
            view = acct.get_task("j", "t")
            assert outcome(view) == ("completed", "success", 0, None, 0)
            assert acct.read_task_file("j", "t", "stdout.txt") == b"slow\n"
    finally:
        server.close()


def test_the_sdks_resource_and_output_files_load_as_the_models():
    """What azure-batch 15.x sends for a task's files is what the models read (REST names,
    the upload condition in its lower-case wire form)."""
    m = pytest.importorskip("azure.batch.models")
    sdk = m.BatchTaskCreateOptions(
        id="t", command_line="x",
        resource_files=[m.ResourceFile(storage_container_url="https://h/c?sig=1",
                                       blob_prefix="in/", file_path="d", file_mode="0755")],
        output_files=[m.OutputFile(
            file_pattern="**/*.csv",
            destination=m.OutputFileDestination(container=m.OutputFileBlobContainerDestination(
                container_url="https://h/o?sig=2", path="res",
                upload_headers=[m.OutputFileUploadHeader(name="x-ms-meta-a", value="b")])),
            upload_options=m.OutputFileUploadConfiguration(
                upload_condition=m.OutputFileUploadCondition.TASK_FAILURE))])
    task = TaskSpec.model_validate(sdk.as_dict())
    assert task.resource_files == [ResourceFile(storage_container_url="https://h/c?sig=1",
                                                blob_prefix="in/", file_path="d",
                                                file_mode="0755")]
    (of,) = task.output_files
    assert (of.file_pattern, of.destination.container.path, of.upload_options.upload_condition,
            of.destination.container.upload_headers[0].value) == (
        "**/*.csv", "res", "taskfailure", "b")
