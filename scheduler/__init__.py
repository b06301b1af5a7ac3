"""poolscale.scheduler."""
