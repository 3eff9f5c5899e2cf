"""Catalog rules and use cases. No HTTP, no SQL: they orchestrate `catalog.db`."""
