"""Highload Shop's common library: what every service needs, and nothing more."""
