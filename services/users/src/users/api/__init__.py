"""HTTP layer of the users service: thin routers over `users.domain`."""
