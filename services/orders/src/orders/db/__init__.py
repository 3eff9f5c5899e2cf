"""The orders schema: tables and repositories."""
