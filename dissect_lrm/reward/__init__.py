"""Answer extraction, grading and hard time bounds (never imports verl or torch)."""
