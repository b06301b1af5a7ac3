"""Benchmark 7: ``poolscale serve`` through the official SDK, against a bare endpoint, in one run.

    python bench/bench_serve.py [--quick] [--rounds N] [--tasks N] [--gets N]
                                                        (or python bench/run.py --only serve)

Two servers run on this machine, each in a process of its own, and one client drives both the
same way, rounds interleaved so that machine load hits both alike:

* **poolscale serve** (development account, a temporary data directory), with a pool of no
  nodes (so no task runs: what is measured is accepting them) and one job;
* **the bare endpoint**: FastAPI on uvicorn answering the same two operations with no Batch in
  between: ``addtaskcollection`` parses the JSON body and answers every task ``success``;
  ``GET task`` answers a fixed task. It checks no signature and stores nothing: it is what the
  web stack alone costs, the ceiling of any server written on it.

1. **Tasks accepted per second**: N tasks (5,000; 1,000 with ``--quick``), command line
   ``/bin/true``, added with the SDK's ``create_tasks(job, tasks, max_concurrency=4)``: chunks
   of 100 tasks sent by four threads, as users add tasks. Ratio poolscale / bare (target >= 0.3).
2. **GET task latency**: ``get_task`` on one task, M times in a row (1,000; 200 with
   ``--quick``), p50 and p99 of each, measured around the SDK call.

Each figure is the best of the rounds (3; 1 with ``--quick``) for throughput, the median of the
rounds' percentiles for latency. Needs ``pip install -e '.[test]'`` (FastAPI, the SDK).
"""


import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: poolscale / bare throughput, at least (issue 12)
TARGET_RATIO = 0.3
CHUNK = 100
THREADS = 4


# -- the bare endpoint (run in its own process: ``bench_serve.py --bare PORT``) ---------------

def bare_app():
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, Response

    app = FastAPI()
    task = {"id": "t", "url": "http://127.0.0.1/jobs/j/tasks/t", "eTag": "0x8DE0000000000",
            "creationTime": "2026-12-07T22:30:00.000Z", "state": "active",
            "commandLine": "/bin/true", "executionInfo": {"retryCount": 0, "requeueCount": 0}}

    @app.post("/pools")
    async def add_pool(request: Request):
        json.loads(await request.body())
        return Response(status_code=201)

    @app.post("/jobs")
    async def add_job(request: Request):
        json.loads(await request.body())
        return Response(status_code=201)

    @app.post("/jobs/{job_id}/addtaskcollection")
    async def add_collection(job_id: str, request: Request):
        body = json.loads(await request.body())
        return JSONResponse({"value": [{"status": "success", "taskId": t["id"]}
                                       for t in body["value"]]})

    @app.get("/jobs/{job_id}/tasks/{task_id}")
    async def get_task(job_id: str, task_id: str):
        return JSONResponse({**task, "id": task_id})

    return app


def run_bare(port: int) -> None:
    import uvicorn

    from poolscale.runtime.commands.serve import _listen

    sock = _listen("127.0.0.1", port)        # the same socket options as poolscale serve's
    print("ready", flush=True)
    config = uvicorn.Config(bare_app(), log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


# -- servers -----------------------------------------------------------------------------------

def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, timeout: float = 30.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


class Servers:
    """Both servers, started once for the whole run."""

    def __init__(self, data: Path) -> None:
        from poolscale.runtime.commands.serve import DEV_ACCOUNT, DEV_KEY

        self.account, self.key = DEV_ACCOUNT, DEV_KEY
        self.serve = subprocess.Popen(
            [sys.executable, "-m", "poolscale.runtime.cli", "serve", "--port", "0",
             "--data", str(data)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.serve.stdout.readline()
        self.serve_endpoint = line.split("endpoint=", 1)[1].split()[0]
        port = free_port()
        self.bare = subprocess.Popen([sys.executable, __file__, "--bare", str(port)],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.bare.stdout.readline()
        wait_listening(port)
        self.bare_endpoint = f"http://127.0.0.1:{port}"

    def client(self, endpoint: str):
        from azure.batch import BatchClient
        from azure.core.credentials import AzureNamedKeyCredential

        return BatchClient(endpoint=endpoint,
                           credential=AzureNamedKeyCredential(self.account, self.key))

    def close(self) -> None:
        for proc in (self.serve, self.bare):
            proc.terminate()
            proc.wait(20)


# -- measurements ------------------------------------------------------------------------------

def prepare(client, job_id: str) -> None:
    from azure.batch import models as m

    pool_id = "benchpool"
    try:
        client.create_pool(m.BatchPoolCreateOptions(
            id=pool_id, vm_size="standard_d2s_v3", target_dedicated_nodes=0,
            virtual_machine_configuration=m.VirtualMachineConfiguration(
                image_reference=m.BatchVmImageReference(publisher="canonical", offer="ubuntu",
                                                        sku="22_04-lts"),
                node_agent_sku_id="batch.node.ubuntu 22.04")))
    except Exception as e:                      # the pool of an earlier round
        if getattr(getattr(e, "error", None), "code", None) != "PoolExists":
            raise
    client.create_job(m.BatchJobCreateOptions(id=job_id,
                                              pool_info=m.BatchPoolInfo(pool_id=pool_id)))


def throughput(client, job_id: str, n: int) -> float:
    from azure.batch import models as m

    tasks = [m.BatchTaskCreateOptions(id=f"t{i:06d}", command_line="/bin/true") for i in range(n)]
    start = time.perf_counter()
    result = client.create_tasks(job_id, tasks, max_concurrency=THREADS)
    elapsed = time.perf_counter() - start
    added = [r for r in result.result_values if r.status == "success"]
    if len(added) != n:
        raise RuntimeError(f"{n - len(added)} of {n} tasks were not added")
    return n / elapsed


def latency(client, job_id: str, n: int) -> tuple[float, float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        client.get_task(job_id, "t000000")
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return times[len(times) // 2], times[min(len(times) - 1, int(len(times) * 0.99))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--tasks", type=int)
    parser.add_argument("--gets", type=int)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bare is not None:
        run_bare(args.bare)
        return 0
    rounds = args.rounds or (1 if args.quick else 3)
    n_tasks = args.tasks or (1000 if args.quick else 5000)
    n_gets = args.gets or (200 if args.quick else 1000)
    with tempfile.TemporaryDirectory() as tmp:
        servers = Servers(Path(tmp) / "data")
        try:
            clients = {"poolscale": servers.client(servers.serve_endpoint),
                       "bare": servers.client(servers.bare_endpoint)}
            rates: dict[str, list[float]] = {k: [] for k in clients}
            p50s: dict[str, list[float]] = {k: [] for k in clients}
            p99s: dict[str, list[float]] = {k: [] for k in clients}
            for r in range(rounds):
                for name, client in clients.items():
                    job = f"bench{r}"
                    prepare(client, job)
                    rates[name].append(throughput(client, job, n_tasks))
                    p50, p99 = latency(client, job, n_gets)
                    p50s[name].append(p50)
                    p99s[name].append(p99)
        finally:
            servers.close()
    best = {k: max(v) for k, v in rates.items()}
    figures = {
        "tasks": n_tasks, "rounds": rounds, "threads": THREADS, "chunk": CHUNK,
        "tasks_per_s": best,
        "ratio": best["poolscale"] / best["bare"],
        "target_ratio": TARGET_RATIO,
        "get_task_ms": {k: {"p50": statistics.median(p50s[k]), "p99": statistics.median(p99s[k])}
                        for k in clients},
        "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"addtaskcollection through the SDK ({n_tasks} tasks, {CHUNK} per call, "
              f"{THREADS} threads, best of {rounds}):")
        for k in clients:
            print(f"  {k:<10} {best[k]:>9,.0f} tasks/s")
        print(f"  ratio poolscale/bare {figures['ratio']:.2f}x (target >= {TARGET_RATIO}x)")
        print(f"get_task ({n_gets} calls in a row, median of {rounds} rounds):")
        for k in clients:
            lat = figures["get_task_ms"][k]
            print(f"  {k:<10} p50 {lat['p50']:.2f} ms   p99 {lat['p99']:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
