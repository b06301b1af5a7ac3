"""What the live-engine tests share: a simulation driven to its horizon by the live loop.

A test that runs a workload on the live kernel builds a :class:`~poolscale.scheduler.Simulation`
subclass with a live world first in its bases, swaps its kernel for a :class:`ServingKernel`
before anything is scheduled, and calls ``run()``: the simulation's own ``run(until)`` then
serves on the real clock until the horizon, where the run ends after everything else at that
instant.
"""

from __future__ import annotations

from poolscale.runtime.service.livekernel import LiveKernel

#: after everything else at the horizon (ranks 0..5), the live run ends
END_RANK = 6


class ServingKernel(LiveKernel):
    """``Simulation.run``'s ``run(until)`` becomes the live loop up to the horizon."""

    def run(self, until, *, on_step=None):
        if until > 0 and not self._serving:
            self.at(until, END_RANK, self._end)
            self.serve()
        else:
            super().run(until, on_step=on_step)

    def _end(self, _a, _b) -> None:
        self.stop_at = self.now
