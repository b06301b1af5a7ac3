"""poolscale.grammar."""
