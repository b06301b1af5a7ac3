"""poolscale.runtime.service: the live Batch engine (real clock, real processes, durable state).

Everything here is I/O: threads, processes, the wall clock, the disk. The Batch rules stay in
``poolscale.scheduler`` (pure, shared with the simulator); this package supplies the seams the
live engine plugs into them. Nothing in ``poolscale.scheduler`` imports this package, and nothing
here is on the start-up path of the CLI's formula commands.
"""
