"""HTTP API of the payments service."""
