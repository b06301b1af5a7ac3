"""Local nodes as directory trees (runtime/service/local/nodedirs.py).

Each test asserts the exact tree (a sorted listing), exact paths and exact refusals. Deletes
run on a background thread; tests wait for it with ``drain_trash`` and a generous timeout, so
a loaded machine makes a test slower, never flaky.
"""

from __future__ import annotations

import os
import socket
import stat
import sys
from pathlib import Path

import pytest

from poolscale.runtime.service.ids import ID_RULE, InvalidId
from poolscale.runtime.service.local.nodedirs import (
    InvalidFilePath,
    NodeDirectories,
    PathOutsideWorkRoot,
    delete_entry,
    node_ip,
)
from poolscale.scheduler.nodes import DEDICATED, Node

pytestmark = pytest.mark.skipif(os.name != "posix", reason="symlinks and modes are POSIX")

WAIT = 15.0
NODE = Node(1, DEDICATED).id  # the simulator's name for node 1: the provider uses the same

NEW_NODE_TREE = [
    "applications/",
    "fsmounts/",
    "shared/",
    "startup/",
    "startup/wd/",
    "volatile/",
    "workitems/",
]


def listing(root: Path) -> list[str]:
    """Every entry under ``root``, relative, sorted; directories end with ``/``, links with
    ``@``. Links are listed, never followed."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                out.append(rel + "@")
            elif path.is_dir():
                out.append(rel + "/")
            else:
                out.append(rel)
    return sorted(out)


@pytest.fixture
def dirs(tmp_path: Path):
    with NodeDirectories(tmp_path / "nodes") as d:
        yield d


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory beside the work root, with a file that must survive every delete."""
    o = tmp_path / "outside"
    o.mkdir()
    (o / "precious.txt").write_text("keep me")
    return o


def test_node_ids_are_the_simulators():
    assert NODE == "tvm-000001"


def test_create_makes_the_node_tree(dirs: NodeDirectories, tmp_path: Path):
    root = dirs.create("pool1", NODE)
    assert root == tmp_path.resolve() / "nodes" / "pool1" / NODE
    assert listing(root) == NEW_NODE_TREE
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o700
    assert listing(dirs.work_root) == [".trash/", "pool1/", f"pool1/{NODE}/",
                                       *(f"pool1/{NODE}/{p}" for p in NEW_NODE_TREE)]


def test_the_root_is_made_private_even_if_it_was_not(dirs: NodeDirectories):
    root = dirs.work_root / "p" / NODE
    root.mkdir(parents=True, mode=0o755)
    os.chmod(root, 0o755)  # e.g. left by a copy of the data directory
    assert dirs.create("p", NODE) == root
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o700


def test_create_again_keeps_what_is_there(dirs: NodeDirectories):
    root = dirs.create("p", NODE)
    (root / "shared" / "data.bin").write_bytes(b"x")
    assert dirs.create("p", NODE) == root
    assert listing(root) == sorted([*NEW_NODE_TREE, "shared/data.bin"])


def test_paths_of_a_node(dirs: NodeDirectories):
    root = dirs.work_root / "p" / NODE
    assert dirs.node_root("p", NODE) == root
    assert dirs.startup_dir("p", NODE) == root / "startup"
    assert dirs.job_dir("p", NODE, "job1") == root / "workitems" / "job1" / "job-1"
    assert dirs.task_dir("p", NODE, "job1", "t7") == root / "workitems" / "job1" / "job-1" / "t7"
    assert dirs.prep_dir("p", NODE, "job1") == root / "workitems" / "job1" / "job-1" / "jobpreparation"
    assert dirs.release_dir("p", NODE, "job1") == root / "workitems" / "job1" / "job-1" / "jobrelease"
    # a job of a schedule: <scheduleId>/<job name>, through the same function
    assert dirs.task_dir("p", NODE, "nightly", "t7", segment="job-3") == (
        root / "workitems" / "nightly" / "job-3" / "t7")
    assert not (root / "workitems" / "job1").exists()  # paths are computed, not made


def test_a_job_of_a_schedule_lives_under_its_schedule(dirs: NodeDirectories):
    # <scheduleId>:job-<n> is split where the path is made: callers pass the job's id as it is.
    root = dirs.work_root / "p" / NODE
    job = root / "workitems" / "nightly" / "job-3"
    assert dirs.job_dir("p", NODE, "nightly:job-3") == job
    assert dirs.task_dir("p", NODE, "nightly:job-3", "t7") == job / "t7"
    assert dirs.prep_dir("p", NODE, "nightly:job-3") == job / "jobpreparation"
    assert dirs.release_dir("p", NODE, "nightly:job-3") == job / "jobrelease"
    assert dirs.task_file("p", NODE, "nightly:job-3", "t7", "wd/out.txt") == job / "t7" / "wd" / "out.txt"
    assert dirs.job_dir("p", NODE, "nightly:job-4") == root / "workitems" / "nightly" / "job-4"
    assert dirs.job_dir("p", NODE, "nightly") == root / "workitems" / "nightly" / "job-1"


def test_two_jobs_of_a_schedule_and_a_plain_job_keep_apart(dirs: NodeDirectories):
    # A plain job named like the schedule ("s") would share s/job-1 with "s:job-1": jobs and
    # schedules share one id space in the account, so the two never exist together.
    dirs.create("p", NODE)
    for job_id in ("s:job-1", "s:job-2", "j"):
        (dirs.task_dir("p", NODE, job_id, "t") / "wd").mkdir(parents=True)
    assert dirs.task_dir("p", NODE, "s", "t") == dirs.task_dir("p", NODE, "s:job-1", "t")
    assert dirs.delete_task_dir("p", NODE, "s:job-1", "t") is True
    assert dirs.drain_trash(WAIT)
    assert [e for e in listing(dirs.node_root("p", NODE)) if e.startswith("workitems/")] == [
        "workitems/", "workitems/j/", "workitems/j/job-1/", "workitems/j/job-1/t/", "workitems/j/job-1/t/wd/",
        "workitems/s/", "workitems/s/job-1/", "workitems/s/job-2/", "workitems/s/job-2/t/",
        "workitems/s/job-2/t/wd/"]


@pytest.mark.parametrize(("call", "prop", "bad"), [
    (lambda d: d.task_dir("p", NODE, "j", ".."), "taskId", ".."),
    (lambda d: d.task_dir("p", NODE, "j", "a/b"), "taskId", "a/b"),
    (lambda d: d.task_dir("p", NODE, "../../x", "t"), "jobId", "../../x"),
    (lambda d: d.task_dir("p", NODE, "j", "t", segment=".."), "segment", ".."),
    (lambda d: d.task_dir("p", NODE, "..:job-1", "t"), "jobId", "..:job-1"),
    (lambda d: d.job_dir("p", NODE, "s:job-0"), "jobId", "s:job-0"),
    (lambda d: d.prep_dir("p", NODE, "s:../x"), "jobId", "s:../x"),
    (lambda d: d.create("..", NODE), "poolId", ".."),
    (lambda d: d.create("p", "/etc"), "nodeId", "/etc"),
    (lambda d: d.remove("p", "."), "nodeId", "."),
    (lambda d: d.delete_task_dir("p", NODE, "j", ""), "taskId", ""),
    (lambda d: d.remove_pool(".trash"), "poolId", ".trash"),
])
def test_an_id_that_is_not_one_plain_name_is_refused_before_the_disk(dirs: NodeDirectories, call, prop, bad):
    before = listing(dirs.work_root)
    with pytest.raises(InvalidId) as info:
        call(dirs)
    assert (info.value.code, info.value.property, info.value.value) == ("InvalidPropertyValue", prop, bad)
    assert info.value.reason.startswith(ID_RULE)
    assert listing(dirs.work_root) == before


def test_a_symlinked_job_directory_cannot_lead_outside(dirs: NodeDirectories, outside: Path):
    root = dirs.create("p", NODE)
    (root / "workitems" / "j").symlink_to(outside)
    with pytest.raises(PathOutsideWorkRoot) as info:
        dirs.task_dir("p", NODE, "j", "t")
    assert str(info.value) == (f"{root}/workitems/j/job-1/t resolves to {outside}/job-1/t, outside the "
                               f"work root {dirs.work_root}; it is not used")
    (outside / "job-1" / "t").mkdir(parents=True)
    with pytest.raises(PathOutsideWorkRoot):
        dirs.delete_task_dir("p", NODE, "j", "t")
    assert listing(outside) == ["job-1/", "job-1/t/", "precious.txt"]


def test_a_symlink_that_stays_inside_the_work_root_is_allowed(dirs: NodeDirectories):
    dirs.create("p", NODE)
    other = dirs.create("p", "tvm-000002")
    (other / "workitems" / "j").mkdir()
    (dirs.node_root("p", NODE) / "workitems" / "j").symlink_to(other / "workitems" / "j")
    expected = dirs.work_root / "p" / NODE / "workitems" / "j" / "job-1" / "t"
    assert dirs.task_dir("p", NODE, "j", "t") == expected


def test_a_relative_symlink_chain_out_of_the_work_root_is_caught(dirs: NodeDirectories, outside: Path):
    root = dirs.create("p", NODE)
    (root / "volatile" / "hop").symlink_to("../../../../outside")  # from volatile/: node, p, nodes, tmp
    (root / "workitems" / "j").symlink_to("../volatile/hop")
    with pytest.raises(PathOutsideWorkRoot) as info:
        dirs.prep_dir("p", NODE, "j")
    assert info.value.resolved == f"{outside}/job-1/jobpreparation"


def test_recreating_a_node_refuses_a_part_that_leads_outside(dirs: NodeDirectories, outside: Path):
    root = dirs.create("p", NODE)
    (root / "startup" / "wd").rmdir()
    (root / "startup").rmdir()
    (root / "startup").symlink_to(outside)
    with pytest.raises(PathOutsideWorkRoot):
        dirs.create("p", NODE)
    assert listing(outside) == ["precious.txt"]


@pytest.mark.parametrize("layout", ["plain", "missing", "file", "inner-link", "outer-link", "dangling"])
def test_the_quick_resolution_agrees_with_realpath(dirs: NodeDirectories, outside: Path, layout: str):
    root = dirs.create("p", NODE)
    work = root / "workitems"
    if layout == "plain":
        (work / "j" / "job-1" / "t").mkdir(parents=True)
    elif layout == "file":
        (work / "j").write_text("not a directory")
    elif layout == "inner-link":
        (root / "volatile" / "jobs").mkdir()
        (work / "j").symlink_to("../volatile/jobs")
    elif layout == "outer-link":
        (work / "j").symlink_to(outside)
    elif layout == "dangling":
        (work / "j").symlink_to(outside / "nowhere")
    parts = ("p", NODE, "workitems", "j", "job-1", "t")
    assert dirs._resolve(parts) == os.path.realpath(dirs.work_root.joinpath(*parts))


def test_file_paths_of_a_node_and_of_a_task(dirs: NodeDirectories):
    root = dirs.create("p", NODE)
    task = dirs.task_dir("p", NODE, "j", "t")
    assert dirs.node_file("p", NODE, "startup/stdout.txt") == root / "startup" / "stdout.txt"
    assert dirs.node_file("p", NODE, "./shared//data/") == root / "shared" / "data"
    assert dirs.node_file("p", NODE, "") == root
    assert dirs.task_file("p", NODE, "j", "t", "wd/result.csv") == task / "wd" / "result.csv"
    assert dirs.task_file("p", NODE, "j", "t", "stdout.txt") == task / "stdout.txt"


@pytest.mark.parametrize(("file_path", "message"), [
    ("../tvm-000002/shared/x", "file path '../tvm-000002/shared/x' climbs out with '..'"),
    ("wd/../../t2/stdout.txt", "file path 'wd/../../t2/stdout.txt' climbs out with '..'"),
    ("/etc/passwd", "file path '/etc/passwd' is absolute; give it relative to the directory"),
    ("a\0b", "file path 'a\\x00b' contains a NUL character"),
])
def test_a_file_path_that_climbs_out_is_refused(dirs: NodeDirectories, file_path, message):
    dirs.create("p", NODE)
    with pytest.raises(InvalidFilePath) as info:
        dirs.task_file("p", NODE, "j", "t", file_path)
    assert str(info.value) == message


def test_a_node_file_path_cannot_reach_another_node_through_a_link(dirs: NodeDirectories):
    root = dirs.create("p", NODE)
    other = dirs.create("p", "tvm-000002")
    (other / "shared" / "secret").write_text("other node")
    (root / "shared" / "peek").symlink_to(other / "shared")
    with pytest.raises(PathOutsideWorkRoot) as info:
        dirs.node_file("p", NODE, "shared/peek/secret")
    assert str(info.value) == (f"{root}/shared/peek/secret resolves to {other}/shared/secret, "
                               f"outside the node directory {root}; it is not used")
    (root / "shared" / "mine").write_text("x")
    (root / "shared" / "alias").symlink_to("mine")  # a link inside the node is fine
    assert dirs.node_file("p", NODE, "shared/alias") == root / "shared" / "alias"


def test_a_task_file_path_cannot_reach_a_sibling_task(dirs: NodeDirectories):
    dirs.create("p", NODE)
    t1, t2 = dirs.task_dir("p", NODE, "j", "t1"), dirs.task_dir("p", NODE, "j", "t2")
    (t1 / "wd").mkdir(parents=True)
    (t2 / "wd").mkdir(parents=True)
    (t1 / "wd" / "sib").symlink_to(t2)
    with pytest.raises(PathOutsideWorkRoot) as info:
        dirs.task_file("p", NODE, "j", "t1", "wd/sib/stdout.txt")
    assert str(info.value).endswith(f"outside the task directory {t1}; it is not used")


def test_deleting_a_task_dir_that_is_a_symlink_removes_the_link_only(dirs: NodeDirectories, outside: Path):
    dirs.create("p", NODE)
    job = dirs.job_dir("p", NODE, "j")
    job.mkdir(parents=True)
    (job / "t").symlink_to(outside)
    assert dirs.delete_task_dir("p", NODE, "j", "t") is True
    assert dirs.drain_trash(WAIT)
    assert listing(job) == []
    assert listing(outside) == ["precious.txt"]


def test_removing_a_node_does_not_follow_links_planted_in_it(dirs: NodeDirectories, outside: Path):
    root = dirs.create("p", NODE)
    (root / "shared" / "home").symlink_to(outside)
    (root / "shared" / "file-link").symlink_to(outside / "precious.txt")
    assert dirs.remove("p", NODE) is True
    assert dirs.drain_trash(WAIT)
    assert listing(dirs.work_root) == [".trash/", "p/"]
    assert listing(outside) == ["precious.txt"]
    assert (outside / "precious.txt").read_text() == "keep me"


def test_a_node_root_replaced_by_a_symlink_is_removed_as_a_link(dirs: NodeDirectories, outside: Path):
    root = dirs.create("p", NODE)
    os.rename(root, dirs.work_root / "p" / "moved")
    root.symlink_to(outside)
    with pytest.raises(PathOutsideWorkRoot):
        dirs.node_root("p", NODE)
    assert dirs.remove("p", NODE) is True
    assert dirs.drain_trash(WAIT)
    assert listing(outside) == ["precious.txt"]
    assert not os.path.lexists(root)


def test_remove_moves_the_tree_away_at_once_and_deletes_it_in_the_background(dirs: NodeDirectories):
    root = dirs.create("p", NODE)
    (root / "shared" / "big").mkdir()
    for i in range(50):
        (root / "shared" / "big" / f"f{i}").write_bytes(b"x" * 100)
    assert dirs.remove("p", NODE) is True
    assert not root.exists()  # gone from the pool before the delete finishes
    assert dirs.drain_trash(WAIT)
    assert listing(dirs.work_root) == [".trash/", "p/"]
    assert dirs.remove("p", NODE) is False


def test_reimage_wipes_and_recreates(dirs: NodeDirectories):
    root = dirs.create("p", NODE)
    (root / "shared" / "cache").write_text("old")
    task = dirs.task_dir("p", NODE, "j", "t")
    (task / "wd").mkdir(parents=True)
    (task / "stdout.txt").write_text("out")
    assert dirs.reimage("p", NODE) == root
    assert listing(root) == NEW_NODE_TREE
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o700
    assert dirs.drain_trash(WAIT)
    assert listing(dirs.trash) == []


def test_delete_task_dir_leaves_its_siblings(dirs: NodeDirectories):
    dirs.create("p", NODE)
    for t in ("t1", "t2"):
        (dirs.task_dir("p", NODE, "j", t) / "wd").mkdir(parents=True)
        (dirs.task_dir("p", NODE, "j", t) / "stdout.txt").write_text(t)
    assert dirs.delete_task_dir("p", NODE, "j", "t1") is True
    assert dirs.delete_task_dir("p", NODE, "j", "t1") is False
    assert dirs.drain_trash(WAIT)
    assert listing(dirs.job_dir("p", NODE, "j")) == ["t2/", "t2/stdout.txt", "t2/wd/"]


def test_remove_pool(dirs: NodeDirectories):
    dirs.create("p", NODE)
    dirs.create("p", "tvm-000002")
    dirs.create("q", NODE)
    assert dirs.remove_pool("p") is True
    assert dirs.drain_trash(WAIT)
    assert [e for e in listing(dirs.work_root) if e.count("/") <= 2] == [".trash/", "q/", f"q/{NODE}/"]


def test_the_trash_left_by_an_earlier_run_is_emptied_at_start(tmp_path: Path):
    work = tmp_path / "nodes"
    left = work / ".trash" / "0123abcd"
    (left / "startup" / "wd").mkdir(parents=True)
    (left / "startup" / "stdout.txt").write_text("from a killed service")
    with NodeDirectories(work) as d:
        assert d.drain_trash(WAIT)
        assert listing(work) == [".trash/"]


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root deletes read-only directories anyway")
def test_a_read_only_tree_is_deleted(tmp_path: Path):
    top = tmp_path / "tree"
    (top / "ro" / "deeper").mkdir(parents=True)
    (top / "ro" / "deeper" / "f").write_text("x")
    os.chmod(top / "ro" / "deeper", 0o500)
    os.chmod(top / "ro", 0o500)
    delete_entry(top)
    assert not os.path.lexists(top)


def test_close_stops_the_trash_thread_after_emptying_it(tmp_path: Path):
    d = NodeDirectories(tmp_path / "nodes")
    d.create("p", NODE)
    d.remove("p", NODE)
    d.close(WAIT)
    assert listing(d.trash) == []


@pytest.mark.parametrize(("num", "ip"), [
    (1, "127.0.0.2"), (2, "127.0.0.3"), (253, "127.0.0.254"), (254, "127.0.1.1"),
    (255, "127.0.1.2"), (508, "127.0.2.1"), (254 * 256, "127.1.0.1"),
])
def test_node_ip_on_linux(num, ip):
    assert node_ip(num, platform="linux") == ip


def test_node_ip_elsewhere_is_the_one_loopback_address():
    assert node_ip(1, platform="darwin") == "127.0.0.1"
    assert node_ip(9000, platform="darwin") == "127.0.0.1"


@pytest.mark.parametrize("bad", [0, -1, True, 1.0, "1"])
def test_node_ip_needs_a_node_number(bad):
    with pytest.raises(ValueError) as info:
        node_ip(bad)
    assert str(info.value) == f"a node number is an integer from 1, not {bad!r}"


def test_node_ip_past_the_last_loopback_address():
    assert node_ip(254 * 65536 - 1, platform="linux") == "127.255.255.254"
    with pytest.raises(ValueError) as info:
        node_ip(254 * 65536, platform="linux")
    assert str(info.value) == f"node number {254 * 65536} is past the last loopback address"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="127/8 is all loopback on Linux only")
def test_a_task_can_bind_its_nodes_address():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((node_ip(300), 0))
        assert s.getsockname()[0] == "127.0.1.47"


def test_one_entry_that_cannot_be_deleted_does_not_stop_the_trash(dirs: NodeDirectories, monkeypatch):
    from poolscale.runtime.service.local import nodedirs

    real = nodedirs.delete_entry
    failed = []

    def first_fails(path):
        if not failed:
            failed.append(path)
            raise RuntimeError("disk on fire")
        real(path)

    monkeypatch.setattr(nodedirs, "delete_entry", first_fails)
    dirs.create("p", NODE)
    dirs.create("p", "tvm-000002")
    assert dirs.remove("p", NODE)
    assert dirs.drain_trash(WAIT)
    assert dirs.remove("p", "tvm-000002")
    assert dirs.drain_trash(WAIT)
    assert listing(dirs.trash) == [f"{failed[0].name}/", *(f"{failed[0].name}/{p}" for p in NEW_NODE_TREE)]
