"""The engine's shared state, declared once with its types.

:class:`~.engine.Engine` is built in layers, one concept per module: the pool manager
(pool.py), submissions and jobs (jobs.py), the scheduling pass (scheduling.py), task attempts
(attempts.py), the sampler (sampler.py) and an auto pool's presence (autopooled.py). Each layer
reads and writes the counters of the others on ``self``. Before this class they were assigned
here and there in ``__init__`` helpers, so no checker could tell a typo from a field; now every
field is declared below (assigned by the engine's ``_init_*`` methods) and the layers form one
inheritance chain over it
(``EngineState`` → ``PoolMixin`` → ``JobsMixin`` → ``SchedulerMixin`` → ``AttemptsMixin`` →
``SamplerMixin`` → ``RequestsMixin`` → ``SchedulesMixin`` → ``AutoPoolMixin`` → ``Engine``),
which ``mypy`` checks (tests/test_typing.py). A world (simworld.py for
:class:`~.simulate.Simulation`) supplies the launch methods declared last.

A layer that calls down the chain (the pool manager requeues a task, say) calls a method
declared at the end of this class and defined by the layer that owns it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from poolscale.formula.values import Option
from poolscale.metrics.recorder import SampleRecorder

from .kernel import Kernel
from .models import PoolSpec
from .nodes import Node, SlotIndex
from .streams import Streams
from .tasks import Job, Task

if TYPE_CHECKING:
    from .autopooled import AutoPoolRun


class EngineState:
    """Fields of a simulation (see the module docstring); none has a value at class level."""

    # -- the pool's configuration (Engine._init_pool) --
    slots: int
    cores: Any
    pack: bool
    inter_node: bool
    quota_nodes: list[Any]
    max_nodes: list[int]
    most_nodes: int
    autoscale_at: float
    autoscale_ticks: int
    autoscale_gen: int
    core_quota: Any
    alloc_time: Any
    boot_time: Any
    start_task: Any
    st_duration: Any
    st_fail_p: float
    preempt_mean: Any
    recovery_time: Any
    fail_mean: Any
    repair_time: Any
    prices: Any
    resize_timeout: Any
    # -- nodes and the resize in progress --
    index: SlotIndex
    nodes: dict[int, Node]
    next_num: int
    n_present: list[int]
    n_leaving: list[int]
    n_billed: list[int]
    n_preempted: int
    preemption_times: list[float]
    n_usable: int
    n_req_creating: int
    n_removed: int
    sweep_at: int
    target: list[int]
    option: Option
    alloc_state: str
    resize_errors: list[str]
    resize_error_log: dict[str, dict]
    file_targets: list[int]
    quota_error: list[bool]
    resize_stopped: bool
    resize_gen: int
    _in_resize: bool
    _resize_again: bool
    # -- an auto pool: present only during its owners' lives (autopooled.py) --
    auto_pool: AutoPoolRun | None
    pool_absent: bool
    pool_made_at: float
    # -- autoscale (Engine._init_autoscale) --
    formula: Any
    autoscale: bool
    interval_ticks: int
    runs: list[Any]
    run_times: list[float]
    eval_errors: int
    error_codes: dict[str, int]
    target_changes: int
    target_change_times: list[float]
    # -- samples and the integrals behind them (Engine._init_samples, sampler.py) --
    period_ticks: int
    recorder: SampleRecorder
    loss_rate: float
    timeline: list[dict]
    cpu_total: float
    mem_total: float
    disk_total: float
    io_rates: list[float]
    acc_usable: float
    acc_cpu: float
    acc_mem: float
    acc_disk: float
    acc_io: list[float]
    last_usable: float
    last_cpu: float
    last_mem: float
    last_disk: float
    last_io: list[float]
    acc_billed: list[float]
    acc_assigned: float
    acc_under: float
    acc_over: float
    period_succeeded: int
    period_failed: int
    # -- tasks and the ready queue (Engine._init_counters, jobs.py, scheduling.py) --
    n_submitted: int
    n_active: int
    n_running: int
    n_succeeded: int
    n_failed: int
    n_rejected: int
    active_inst: int
    active_slots: int
    running_inst: int
    assigned_slots: int
    wasted: float
    queue: list[Any]
    direct_start: bool
    _qtok: int
    next_seq: int
    submissions_done: bool
    schedules: dict[str, Any]
    _making: Any
    # -- the run's extent and progress (Simulation._init_horizon) --
    stop_when_drained: bool
    until: float
    horizon_report: float
    _progress_step: float
    _next_progress: float
    # -- the workload (Simulation._build_workload) --
    jobs: list[Job]
    submissions: list[Any]
    n_workload_tasks: int
    track_mem: bool
    track_io: bool
    # -- the run itself (Simulation.__init__) --
    pool_spec: PoolSpec
    start_ticks: int
    start_iso: str
    seed: int
    streams: Streams
    progress: Callable[[float, float], None] | None
    events: list[Any]
    _log: Any
    kernel: Kernel
    _ran: bool
    _released: bool

    # -- methods defined further down the chain, declared so every layer can call them --

    def _start_attempt(self, task: Task) -> None:
        raise NotImplementedError  # attempts.py

    def _group_key(self, task: Task, spec: Any) -> int | None:
        raise NotImplementedError  # engine.py

    def _reboot(self, node: Node, option: Any) -> None:
        raise NotImplementedError  # requests.py

    def _schedules_live(self) -> bool:
        raise NotImplementedError  # scheduled.py

    # -- launch methods: supplied by the world (scheduler/simworld.py, or the live engine) --

    def _launch_allocation(self, node: Node) -> None:
        raise NotImplementedError  # world

    def _launch_boot(self, node: Node) -> None:
        raise NotImplementedError  # world

    def _launch_start_task(self, node: Node) -> None:
        raise NotImplementedError  # world

    def _node_removed(self, node: Node) -> None:
        raise NotImplementedError  # world

    def _launch_background_start_task(self, node: Node) -> None:
        raise NotImplementedError  # world

    def _node_local_cleared(self, node: Node) -> None:
        raise NotImplementedError  # world

    def _prep_stopped(self, node: Node, job: Job) -> None:
        raise NotImplementedError  # world

    def _task_retained(self, task: Task, until: float) -> None:
        raise NotImplementedError  # world

    def _launch_prep(self, node: Node, job: Job, rec: Any) -> None:
        raise NotImplementedError  # world

    def _launch_release(self, node: Node, job: Job) -> None:
        raise NotImplementedError  # world

    def _launch_attempt(self, task: Task) -> None:
        raise NotImplementedError  # world

    def _start_resources(self, task: Task) -> None:
        raise NotImplementedError  # world

    def _sample_lost(self, k: int) -> bool:
        raise NotImplementedError  # world

    def _sample_resources(self, du: float) -> tuple[float, float, float, list[float]]:
        raise NotImplementedError  # world

    def _stop_resources(self, task: Task) -> None:
        raise NotImplementedError  # attempts.py

    def _on_exit(self, task: Task, attempt: int) -> None:
        raise NotImplementedError  # attempts.py

    def _on_wall(self, task: Task, attempt: int) -> None:
        raise NotImplementedError  # attempts.py

    def _back_to_active(self, task: Task) -> None:
        raise NotImplementedError  # attempts.py

    def _recover(self, task: Task) -> None:
        raise NotImplementedError  # attempts.py

    def _requeue(self, task: Task) -> None:
        raise NotImplementedError  # attempts.py

    def _kill(self, task: Task, *, by_job: bool) -> None:
        raise NotImplementedError  # attempts.py

    def _end_release(self, node: Node, job: Job, *, skipped: bool) -> None:
        raise NotImplementedError  # jobs.py

    def _make_ready(self, task: Task) -> None:
        raise NotImplementedError  # scheduling.py

    def _place_simple(self, task: Task, node: Node) -> None:
        raise NotImplementedError  # scheduling.py

    def _unassign(self, task: Task) -> None:
        raise NotImplementedError  # scheduling.py
