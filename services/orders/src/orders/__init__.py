"""Orders service: carts, wishlists, orders and their lifecycle, replicas of products and users."""
