"""The only place that imports verl's trainer internals: registrations, our v1 trainer, CPU support."""
