"""Tables and queries of the `payments` schema."""
