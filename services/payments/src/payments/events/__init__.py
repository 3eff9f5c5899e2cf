"""Payments events: what it publishes (published.py) and what it reacts to (handlers.py)."""
