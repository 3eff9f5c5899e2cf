"""Order rules and use cases. No HTTP, no SQL: the status machine is pure Python and
the use cases orchestrate `orders.db`."""
