"""Users events: what the users service publishes (published.py)."""
