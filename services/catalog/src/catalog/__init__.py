"""Catalog service: categories, products, full-text search, reviews, stock reservations."""
