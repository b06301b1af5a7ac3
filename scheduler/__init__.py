"""poolscale.scheduler: the pool manager, task scheduler and simulator (docs/simulation-model.md).

    from poolscale.scheduler import simulate
    result = simulate(pool, workload, formula, start="2026-03-02T00:00:00Z", horizon="P1D", seed=7)
    result.report, result.timeline (a pandas DataFrame), result.runs, result.events
"""

from .models import JobSpec, PoolSpec, TaskSpec, Workload, load_pool, load_workload
from .results import SimulationResult
from .simulate import Simulation, simulate

__all__ = [
    "simulate", "Simulation", "SimulationResult", "PoolSpec", "JobSpec", "TaskSpec", "Workload",
    "load_pool", "load_workload",
]
