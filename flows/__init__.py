"""Prefect flows: they compose tasks (fan-out, ordering, retries, artifacts); no logic of their own."""
