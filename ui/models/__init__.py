"""Qt models over light rows from the core (ids plus the few fields a list shows)."""
