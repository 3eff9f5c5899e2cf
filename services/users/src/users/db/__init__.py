"""The users schema: tables and repositories."""
