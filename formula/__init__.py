"""poolscale.formula."""
