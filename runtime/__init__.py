"""poolscale.runtime."""
