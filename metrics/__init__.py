"""poolscale.metrics."""
