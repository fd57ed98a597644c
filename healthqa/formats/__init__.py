"""File formats: HealthBench JSONL, long-form exports, reports, review bundles."""
