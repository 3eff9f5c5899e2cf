"""HTTP layer of the catalog service: thin routers over `catalog.domain`."""
