"""Zero-advantage profiler, stability analysis and figures."""
