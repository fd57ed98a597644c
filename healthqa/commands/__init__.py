"""Command groups of the `healthqa` CLI, one module each."""
