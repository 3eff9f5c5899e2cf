"""Highload Shop payments service."""
