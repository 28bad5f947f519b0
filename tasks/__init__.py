"""Thin Prefect tasks: each is one verb that calls the core library (benchmatrix.pipeline)."""
