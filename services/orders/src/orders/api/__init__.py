"""HTTP layer of the orders service: thin routers over `orders.domain`."""
