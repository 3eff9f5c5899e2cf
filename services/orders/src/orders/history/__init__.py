"""The order-history projection: orders by user and a timeline per order, folded from
the orders and payments events by its own worker, read by `/api/orders/history/`."""
