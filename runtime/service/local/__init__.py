"""poolscale.runtime.service.local: nodes that are directories and tasks that are processes
on this machine (the embedded default of the live engine).

Modules are imported by name (``environment``, ``executor``, ``nodedirs``); this package imports
nothing on its own, so ``poolscale`` starts without paying for it.
"""
