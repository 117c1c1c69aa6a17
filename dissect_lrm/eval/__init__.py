"""Multi-run evaluation: backends, resumable store, statistics and reports (never imports trainer)."""
