"""Samples (docs/simulation-model.md#samples) and the integrals behind them and behind the
report (docs/simulation-model.md#the-report).

Every rate the series and the report integrate (usable nodes, CPU, memory, disk, I/O, billed
nodes, assigned slots, provisioning) only changes at event instants, so the kernel's
``advance(old, new)`` hook adds ``(new − old) × rate`` once per instant instead of once per
change. A sample then reads period integrals as differences of running totals.
"""

from __future__ import annotations

from typing import Any

from poolscale.formula.poolstate import PoolState
from poolscale.formula.values import TICKS_PER_SECOND

from .kernel import AUTOSCALE, SAMPLE
from .attempts import AttemptsMixin

__all__ = ["SamplerMixin", "TIMELINE_COLUMNS"]

TIMELINE_COLUMNS = (
    "time", "dedicated", "low_priority", "target_dedicated", "target_low_priority", "usable",
    "preempted", "leaving", "active_tasks", "running_tasks", "pending_tasks", "tasks_active",
    "tasks_running", "succeeded", "failed", "cpu_percent", "allocation_state", "sample_lost",
    "resize_errors",
)


class SamplerMixin(AttemptsMixin):
    def _advance(self, old: float, new: float) -> None:
        """The kernel's clock hook for a run that tracks memory/disk or I/O: the plain rates,
        then those. (Each total has its own additions in time order, so adding these after the
        others changes no figure.)"""
        self._advance_plain(old, new)
        dt = new - old
        if self.track_mem:
            self.acc_mem += self.mem_total * dt
            self.acc_disk += self.disk_total * dt
        if self.track_io:
            acc = self.acc_io
            for i, r in enumerate(self.io_rates):
                acc[i] += r * dt

    def _advance_plain(self, old: float, new: float) -> None:
        """Add ``(new − old) × rate`` for every rate all runs integrate, and report progress.
        The kernel calls this directly when the run tracks neither memory/disk nor I/O (most
        runs), saving a call per instant."""
        dt = new - old
        u = self.n_usable
        self.acc_usable += u * dt
        self.acc_cpu += self.cpu_total * dt
        b0, b1 = self.n_billed
        ab = self.acc_billed
        ab[0] += b0 * dt
        if b1:                 # adding 0 × dt = 0.0 would leave the total as it is
            ab[1] += b1 * dt
        busy = self.assigned_slots
        self.acc_assigned += busy * dt
        need = -(-(self.active_slots + busy) // self.slots)
        if u < need:
            self.acc_under += dt
        elif u > need:
            self.acc_over += dt
        if self.progress is not None and new >= self._next_progress:
            self.progress(new, self.horizon_report)
            self._next_progress = new + self._progress_step

    def _on_sample(self, k: int, _=None) -> None:
        """Sample k, stamped start + k·P, covering ((k−1)·P, k·P]
        (docs/simulation-model.md#sample-timing-delay-and-loss)."""
        lost = self._sample_lost(k)
        du = self.acc_usable - self.last_usable
        cpu, mem, disk, io = self._sample_resources(du)
        present = self.n_present[0] + self.n_present[1]
        active = self.active_inst
        running = self.running_inst
        # an absent pool has no metrics to record, and a pool made at this instant none yet
        # (its first autoscale run, now, sees no sample, as a pool's first run at the start)
        if not lost and not self.pool_absent and self.kernel.now > self.pool_made_at:
            self.recorder.append(self.start_ticks + k * self.period_ticks, (
                cpu, du, mem, disk, *io, float(present - self.n_preempted), float(active),
                float(running), float(active + running), float(self.period_succeeded),
                float(self.period_failed), float(self.n_preempted), float(self.n_usable),
            ))
        self.timeline.append({
            "time": self.kernel.now,
            "dedicated": self.n_present[0],
            "low_priority": self.n_present[1],
            "target_dedicated": self.target[0],
            "target_low_priority": self.target[1],
            "usable": self.n_usable,
            "preempted": self.n_preempted,
            "leaving": self.n_leaving[0] + self.n_leaving[1],
            "active_tasks": active,
            "running_tasks": running,
            "pending_tasks": active + running,
            "tasks_active": self.n_active,
            "tasks_running": self.n_running,
            "succeeded": self.n_succeeded,
            "failed": self.n_failed,
            "cpu_percent": cpu,
            "allocation_state": self.alloc_state,
            "sample_lost": lost,
            # the pool's resizeErrors at this instant, ";"-separated ("" for none)
            "resize_errors": ";".join(self.resize_errors),
        })
        if self._log is not None:
            self._log((self.kernel.now, "sample", k, "lost" if lost else "ok"))
        self.last_usable = self.acc_usable
        self.period_succeeded = 0
        self.period_failed = 0
        nxt = (k + 1) * self.period_ticks / TICKS_PER_SECOND
        if nxt <= self.until:
            self.kernel.at(nxt, SAMPLE, self._on_sample, k + 1)

    def pool_state(self) -> PoolState:
        """What a formula reads of the pool now: present nodes of each kind (preempted and
        leaving ones included), the targets, the slots per node. The autoscale run and the
        service's evaluateautoscale read the same."""
        return PoolState(
            current_dedicated=float(self.n_present[0]),
            current_low_priority=float(self.n_present[1]),
            target_dedicated=float(self.target[0]),
            target_low_priority=float(self.target[1]),
            task_slots_per_node=float(self.slots),
        )

    def _enable_autoscale(self, formula: Any, interval_ticks: int) -> None:
        """Autoscale is enabled (or its formula or interval changed) now: run 0 of the
        compiled ``formula`` at once, then one every ``interval_ticks``; earlier runs stop."""
        now = self.kernel.now
        self.formula = formula
        self.autoscale = True
        self.interval_ticks = interval_ticks
        self.autoscale_at = now
        self.autoscale_ticks = self.start_ticks + round(now * TICKS_PER_SECOND)
        self.autoscale_gen += 1
        self.kernel.at(now, AUTOSCALE, self._on_evaluate, 0, self.autoscale_gen)

    def _disable_autoscale(self) -> None:
        """Autoscale is disabled now: no further run; the targets stay as the last run left
        them."""
        self.autoscale = False
        self.autoscale_gen += 1

    def _on_evaluate(self, k: int, gen: int | None = None) -> None:
        """The k-th autoscale run (k = 0 at enable time), applied at once (step 4 of
        docs/simulation-model.md#order-of-work-within-an-instant). ``gen``: the enabling it
        belongs to (None: the pool's own, from the start)."""
        if gen is not None and gen != self.autoscale_gen:
            return
        now = self.kernel.now
        state = self.pool_state()
        run = self.formula.evaluate(self.recorder, now=self.autoscale_ticks + k * self.interval_ticks,
                                    pool=state, seed=self.streams.seed_of("rand", k))
        self.runs.append(run)
        self.run_times.append(now)
        if run.error is not None:
            self.eval_errors += 1
            self.error_codes[run.error.code] = self.error_codes.get(run.error.code, 0) + 1
            if self._log is not None:
                self._log((now, "autoscale", k, run.error.code))
        else:
            if self._log is not None:
                self._log((now, "autoscale", k, "ok"))
            self._apply_run(run)
        nxt = (k + 1) * self.interval_ticks / TICKS_PER_SECOND
        if gen is not None:
            nxt += self.autoscale_at
        if nxt <= self.until:
            self.kernel.at(nxt, AUTOSCALE, self._on_evaluate, k + 1, gen)
