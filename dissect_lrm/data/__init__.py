"""Builders that turn source datasets into verl parquet and benchmarks into the eval schema."""
