"""Highload Shop gateway app: merged API docs and shop-wide health behind nginx."""
