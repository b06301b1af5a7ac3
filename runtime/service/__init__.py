"""poolscale.runtime.service: the live Batch engine (real clock, local nodes, durable state).

Nothing here is imported by ``poolscale.scheduler`` (the simulator core stays free of threads,
wall clocks and I/O) nor on the start-up path of the CLI's formula commands.
"""
