"""The catalog schema: tables and repositories."""
